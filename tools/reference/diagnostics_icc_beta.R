# iccbeta::icc_beta's formula (Aguinis & Culpepper 2015; iccbeta is not installable
# here) on lme4 fits: rho_beta = tr(T %*% crossprod(X - group means) / (N - 1)) / var(y).
# Writes diagnostics_icc_beta.json next to this file.
suppressMessages({library(lme4); library(jsonlite)})
rho_beta <- function(fit, group) {
  X <- model.matrix(fit); g <- model.frame(fit)[[group]]
  Tm <- VarCorr(fit)[[group]]
  X <- X[, colnames(Tm), drop = FALSE]
  means <- apply(X, 2, function(col) ave(col, g))
  Xc <- X - means
  sum(diag(Tm %*% crossprod(Xc) / (nrow(X) - 1))) / var(model.response(model.frame(fit)))
}
data(sleepstudy)
ml <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy, REML = FALSE)
reml <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
out <- list(sleepstudy_ml = rho_beta(ml, "Subject"), sleepstudy_reml = rho_beta(reml, "Subject"))
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(here, "diagnostics_icc_beta.json"))
