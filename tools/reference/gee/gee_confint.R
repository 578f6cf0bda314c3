# Wald intervals of a geeglm fit with its robust ("san.se") variance, as geepack users
# compute them: confint.default() uses vcov(fit), the sandwich.  R 4.2.2, geepack 1.3.9.
# Run from this folder: Rscript gee_confint.R  (writes gee_confint.json)
suppressMessages({
  library(geepack)
  library(jsonlite)
})
data(ohio, package = "geepack")
fit <- geeglm(resp ~ age + smoke, id = id, data = ohio, family = binomial,
              corstr = "exchangeable")
ci95 <- confint.default(fit)
ci90 <- confint.default(fit, level = 0.9)
out <- list(terms = rownames(ci95), coefficients = unname(coef(fit)),
            ci95 = unname(ci95), ci90 = unname(ci90), colnames95 = colnames(ci95))
writeLines(toJSON(out, digits = NA, pretty = TRUE), "gee_confint.json")
