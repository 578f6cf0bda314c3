# GLMMs whose optimum is just inside the zero bound of a variance (a 240-row
# simulated data set, packages/core/tests/reference/glmm_singular_probe.csv); L-BFGS-B
# used to stop at theta = 0 on both.  Writes glmm_singular_probe.json next to this file.
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
d <- read.csv(file.path(here, "../../packages/core/tests/reference/glmm_singular_probe.csv"))
d$g <- factor(d$g)
grab <- function(f) list(minus2logLik = -2 * as.numeric(logLik(f)), theta = getME(f, "theta"),
                         fixef = unname(fixef(f)))
out <- list(
  cloglog_trials = grab(glmer(cbind(succ, trials - succ) ~ x + z + (1 | g), d,
                              family = binomial(link = "cloglog"))),
  poisson_uncorrelated = grab(glmer(ycount ~ x + (x || g), d, family = poisson)),
  binary_correlated_slope = grab(glmer(ybin ~ x + z + (x | g), d, family = binomial)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glmm_singular_probe.json"))
