# glmmTMB's estimates and Wald intervals of covariance-structure parameters in a GLMM
# (binomial cbpp, ar1 and cs over period within herd), for tests of
# GLMMResult.structure_parameters().  Writes glmm_structure_parameters.json.
suppressMessages({library(lme4); library(glmmTMB); library(jsonlite)})
data(cbpp)
grab <- function(fit) {
  ci <- confint(fit, parm = "theta_", method = "wald")
  list(logLik = as.numeric(logLik(fit)),
       fixef = as.list(fixef(fit)$cond),
       ci_rows = rownames(ci),
       ci = unname(ci[, 1:3]))
}
out <- list(
  ar1 = grab(glmmTMB(cbind(incidence, size - incidence) ~ period + ar1(0 + period | herd),
                     cbpp, family = binomial)),
  cs = grab(glmmTMB(cbind(incidence, size - incidence) ~ period + cs(0 + period | herd),
                    cbpp, family = binomial)),
  versions = list(R = as.character(getRversion()),
                  glmmTMB = as.character(packageVersion("glmmTMB"))))
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(here, "glmm_structure_parameters.json"))
