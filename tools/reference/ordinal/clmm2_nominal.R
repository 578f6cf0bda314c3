# Reference for mixedmodels-ordinal's nominal effects: ordinal's clmm has no `nominal`
# argument, its clmm2 does (one random intercept).  Run: Rscript clmm2_nominal.R
suppressPackageStartupMessages({library(ordinal); library(jsonlite)})
data(wine)
for (q in c(1, 10)) {
  t0 <- system.time(fit <- clmm2(location = rating ~ temp, nominal = ~ contact, random = judge,
                                 data = wine, Hess = TRUE, nAGQ = q))[["elapsed"]]
  s <- summary(fit)
  ct <- s$coefficients
  res <- list(case_id = sprintf("clmm2_wine_nominal_%s", if (q == 1) "laplace" else "agq10"),
    call = sprintf("clmm2(location = rating ~ temp, nominal = ~contact, random = judge, data = wine, Hess = TRUE, nAGQ = %d)", q),
    logLik = as.numeric(logLik(fit)), coefficients = as.list(coef(fit)[rownames(ct)]),
    coef_table = list(rownames = rownames(ct), colnames = colnames(ct),
                      values = unname(lapply(seq_len(nrow(ct)), function(i) unname(ct[i, ])))),
    stDev = unname(fit$stDev), fitted = unname(fit$fitted.values), elapsed_s = t0)
  writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), paste0(res$case_id, ".json"))
}
