# Two correlated random slopes found by tools/crosscheck (seed 4): a poisson fit that
# stopped on a saddle (0.40 short of glmer) and a binary fit stopped with the intercept's
# SD at zero and the slope's loading of the wrong sign (0.0025 short); and (seed 5) one
# whose trial points overflowed the weights (a LinAlgError); (seed 7) one that reached
# a local optimum 0.36 above the best from the default start.  Writes
# glmm_saddle_mirror.json next to this file.
suppressMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
ref <- file.path(here, "../../packages/core/tests/reference")
s <- read.csv(file.path(ref, "glmm_saddle.csv")); s$a <- factor(s$a); s$b <- factor(s$b)
m <- read.csv(file.path(ref, "glmm_mirror.csv")); m$a <- factor(m$a)
grab <- function(f) list(minus2logLik = -2 * as.numeric(logLik(f)), theta = getME(f, "theta"))
o <- read.csv(file.path(ref, "glmm_overflow.csv")); o$a <- factor(o$a); o$b <- factor(o$b)
l <- read.csv(file.path(ref, "glmm_local_optimum.csv")); l$a <- factor(l$a); l$b <- factor(l$b)
tight <- glmerControl(tolPwrss = 1e-12)
out <- list(saddle = grab(glmer(ycnt ~ x + (x | a) + (1 | b), s, family = poisson)),
            mirror = grab(glmer(ybin ~ x + (x | a), m, family = binomial)),
            overflow = grab(glmer(ycnt ~ x + (x | a) + (1 | b), o, family = poisson,
                                  control = tight)),
            local = grab(glmer(ycnt ~ x + (x | a) + (1 | b), l, family = poisson,
                               control = tight)))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glmm_saddle_mirror.json"))
