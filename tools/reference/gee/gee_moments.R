# Reference figures for mixedmodels_gee's moments="gee": R's gee::gee (Carey's moment
# estimators of the working correlation and the scale, N - p), iterated to convergence
# (tol = 1e-12) so that the figures are the solution, not gee's default stop at 1e-3.
# R 4.2.2, gee 4.13, geepack (for the data sets).
# Run from this folder: Rscript gee_moments.R  (writes gee_moments.json)
suppressMessages({
  library(gee)
  library(geepack)
  library(jsonlite)
})
data(ohio, package = "geepack")
data(dietox, package = "geepack")
dietox <- dietox[order(dietox$Pig, dietox$Time), ]
ohio <- ohio[order(ohio$id, ohio$age), ]
one <- function(formula, data, id, family, corstr, Mv = 1) {
  data$cluster_id <- data[[id]]
  fit <- gee(formula, id = cluster_id, data = data, family = family, corstr = corstr,
             Mv = Mv, tol = 1e-12, maxiter = 1000, silent = TRUE)
  wc <- fit$working.correlation
  list(coefficients = as.list(coef(fit)),
       robust_se = unname(sqrt(diag(fit$robust.variance))),
       naive_se = unname(sqrt(diag(fit$naive.variance))),
       scale = fit$scale,
       working_correlation = unname(wc),
       iterations = fit$iterations)
}
out <- list(
  ohio_exchangeable = one(resp ~ age + smoke, ohio, "id", binomial, "exchangeable"),
  ohio_ar1 = one(resp ~ age + smoke, ohio, "id", binomial, "AR-M", 1),
  ohio_unstructured = one(resp ~ age + smoke, ohio, "id", binomial, "unstructured"),
  dietox_exchangeable = one(Weight ~ Time + Cu, dietox, "Pig", gaussian, "exchangeable"),
  dietox_ar1 = one(Weight ~ Time + Cu, dietox, "Pig", gaussian, "AR-M", 1),
  ohio_mdep2 = one(resp ~ age + smoke, ohio, "id", binomial, "stat_M_dep", 2),
  dietox_poisson_exchangeable = one(round(Feed) ~ Time, dietox[!is.na(dietox$Feed), ],
                                    "Pig", poisson, "exchangeable")
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "gee_moments.json")
