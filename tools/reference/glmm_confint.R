# Profile and Wald confidence intervals of glmer fits (lme4's confint.merMod), for
# tests of GLMMResult.confint.  Writes glmm_confint.json next to this script.
suppressMessages({library(lme4); library(jsonlite)})
out <- list()
ci_list <- function(ci) {
  lapply(setNames(seq_len(nrow(ci)), rownames(ci)), function(i) unname(ci[i, ]))
}
data(cbpp)
g1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
            family = binomial)
out$cbpp_laplace <- list(
  minus2logLik = -2 * as.numeric(logLik(g1)), theta = getME(g1, "theta"),
  fixef = as.list(fixef(g1)),
  profile = ci_list(confint(g1, method = "profile")),
  wald = ci_list(confint(g1, method = "Wald")))
g25 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp,
             family = binomial, nAGQ = 25)
out$cbpp_agq25 <- list(
  minus2logLik = -2 * as.numeric(logLik(g25)), theta = getME(g25, "theta"),
  fixef = as.list(fixef(g25)),
  profile = ci_list(confint(g25, method = "profile")))
data(grouseticks)
gt <- grouseticks
gt$HEIGHT_s <- as.numeric(scale(gt$HEIGHT))
gp <- glmer(TICKS ~ YEAR + HEIGHT_s + (1 | BROOD) + (1 | LOCATION), data = gt,
            family = poisson)
out$grouse_poisson <- list(
  minus2logLik = -2 * as.numeric(logLik(gp)), theta = getME(gp, "theta"),
  fixef = as.list(fixef(gp)),
  profile = ci_list(confint(gp, method = "profile")))
out$versions <- list(R = as.character(getRversion()), lme4 = as.character(packageVersion("lme4")))
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "glmm_confint.json"))
