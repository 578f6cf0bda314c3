# Reference figures for tidy(fit, exponentiate = TRUE, conf.int = TRUE, conf.level = 0.9)
# (broom.mixed 0.2.9.4) of glmer(cbpp) and tidy(lmer(sleepstudy), conf.int = TRUE,
# conf.level = 0.9).  R 4.2.2, lme4 1.1-31.
# Run from this folder: Rscript tidy_exponentiate.R  (writes tidy_exponentiate.json)
suppressMessages({
  library(lme4)
  library(broom.mixed)
  library(jsonlite)
})
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
te <- as.data.frame(tidy(g, effects = "fixed", exponentiate = TRUE, conf.int = TRUE,
                         conf.level = 0.9))
tr <- as.data.frame(tidy(g, effects = "fixed", conf.int = TRUE, conf.level = 0.9))
f <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
tl <- as.data.frame(tidy(f, effects = "fixed", conf.int = TRUE, conf.level = 0.9))
out <- list(glmer_fixef = unname(fixef(g)), glmer_vcov = unname(as.matrix(vcov(g))),
            glmer_exp = te, glmer_raw = tr, lmer_ci90 = tl)
writeLines(toJSON(out, digits = NA, pretty = TRUE), "tidy_exponentiate.json")
