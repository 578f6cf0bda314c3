# VerbAgg with non-canonical links: L-BFGS-B used to stop 0.1 deviance units short with
# the probit link (a stale curvature memory).  glmer's figures, with its default PIRLS
# tolerance and with tolPwrss = 1e-12 (with the default, the criterion glmer prints
# for the cloglog link is 0.015 below the converged Laplace value at its own estimates).
suppressMessages({library(lme4); library(jsonlite)})
data(VerbAgg)
form <- r2 ~ (Anger + Gender + btype + situ) + (1 | id) + (1 | item)
out <- list()
for (l in c("probit", "cloglog")) {
  f <- glmer(form, VerbAgg, family = binomial(link = l))
  g <- glmer(form, VerbAgg, family = binomial(link = l), control = glmerControl(tolPwrss = 1e-12))
  out[[l]] <- list(minus2logLik = -2 * as.numeric(logLik(f)),
                   minus2logLik_tight = -2 * as.numeric(logLik(g)),
                   theta_tight = getME(g, "theta"), fixef_tight = unname(fixef(g)))
}
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "glmm_nonconvex_stop.json"))
