# An LMM whose REML optimum is just inside the zero bound of the variance (100 simulated
# rows, packages/core/tests/reference/lmm_singular_probe.csv); the fit used to stop at
# theta = 0.  Writes lmm_singular_probe.json next to this file.
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
d <- read.csv(file.path(here, "../../packages/core/tests/reference/lmm_singular_probe.csv"))
d$g <- factor(d$g)
f <- lmer(y ~ x + (1 | g), d, REML = TRUE)
writeLines(toJSON(list(REMLcrit = REMLcrit(f), theta = getME(f, "theta"),
                       fixef = unname(fixef(f))), digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "lmm_singular_probe.json"))
