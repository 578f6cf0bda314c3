# Reference cases for mixedmodels-ordinal (clmm) and mixedmodels-pql (glmmPQL).
# Run: Rscript clmm_pql_cases.R   (writes *.json and *.csv next to this script)
suppressPackageStartupMessages({library(ordinal); library(MASS); library(nlme); library(jsonlite)})
out <- function(x, file) writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, null = "null", na = "null"), file)
mat <- function(m) list(rownames = rownames(m), colnames = colnames(m), values = unname(lapply(seq_len(nrow(m)), function(i) unname(m[i, ]))))

clmm_case <- function(id, formula, data, ...) {
  t0 <- system.time(fit <- clmm(formula, data = data, ...))[["elapsed"]]
  s <- summary(fit)
  vc <- lapply(VarCorr(fit), function(v) list(var = unname(diag(as.matrix(v))), sd = unname(sqrt(diag(as.matrix(v)))),
                                               names = colnames(as.matrix(v)),
                                               corr = if (ncol(as.matrix(v)) > 1) unname(cov2cor(as.matrix(v))[lower.tri(as.matrix(v))]) else NULL))
  re <- ranef(fit, condVar = TRUE)
  res <- list(case_id = id, call = deparse(sys.call()), formula = deparse(formula),
    link = fit$link, threshold = fit$threshold, nAGQ = fit$nAGQ,
    alpha = as.list(fit$alpha), beta = as.list(fit$beta),
    coef_table = mat(s$coefficients), vcov = mat(vcov(fit)),
    varcorr = vc, logLik = as.numeric(logLik(fit)), AIC = AIC(fit), BIC = BIC(fit),
    nobs = nobs(fit), ranef = lapply(re, function(r) lapply(as.list(r), unname)),
    condVar = lapply(ordinal::condVar(fit), function(v) unname(as.vector(v))),
    fitted = unname(fitted(fit)), max_grad = max(abs(fit$gradient)), elapsed_s = t0)
  out(res, paste0(id, ".json"))
  invisible(fit)
}

data(wine)
write.csv(wine, "wine.csv", row.names = FALSE)
clmm_case("clmm_wine_probit_crossed", rating ~ temp + contact + (1 | judge) + (1 | bottle), wine, link = "probit")
clmm_case("clmm_wine_logit_agq10", rating ~ temp + contact + (1 | judge), wine, nAGQ = 10)
clmm_case("clmm_wine_cloglog_equidistant", rating ~ temp + contact + (1 | judge), wine, link = "cloglog", threshold = "equidistant")
clmm_case("clmm_wine_loglog_symmetric", rating ~ temp + contact + (1 | judge), wine, link = "loglog", threshold = "symmetric")
clmm_case("clmm_wine_cauchit_agq5", rating ~ temp + contact + (1 | judge), wine, link = "cauchit", nAGQ = 5)
clmm_case("clmm_wine_logit_slope", rating ~ temp + contact + (1 + contact | judge), wine)
clmm_case("clmm_wine_logit_nested", rating ~ temp + contact + (1 | judge/temp), wine)

# glmmPQL
pql_case <- function(id, fit, elapsed) {
  vc <- VarCorr(fit)
  res <- list(case_id = id, call = deparse(fit$call), fixef = as.list(fixef(fit)),
    fixef_se = as.list(sqrt(diag(vcov(fit)))), tTable = mat(summary(fit)$tTable),
    varcorr = mat(matrix(as.numeric(vc), nrow(vc), dimnames = list(rownames(vc), colnames(vc)))),
    sigma = fit$sigma, ranef = lapply(as.list(ranef(fit)), unname),
    corStruct = if (!is.null(fit$modelStruct$corStruct)) as.numeric(coef(fit$modelStruct$corStruct, unconstrained = FALSE)) else NULL,
    fitted = unname(fitted(fit)), fitted_level0 = unname(fitted(fit, level = 0)),
    iterations = fit$numIter, elapsed_s = elapsed)
  out(res, paste0(id, ".json"))
}
data(bacteria)
bact <- bacteria; bact$y <- as.character(bact$y)
write.csv(bact, "bacteria.csv", row.names = FALSE)
t0 <- system.time(f <- glmmPQL(y ~ trt + I(week > 2), random = ~ 1 | ID, family = binomial, data = bacteria,
                               correlation = corAR1(), verbose = FALSE))[["elapsed"]]
pql_case("glmmpql_bacteria_ar1", f, t0)
t0 <- system.time(f <- glmmPQL(y ~ trt + I(week > 2), random = ~ 1 | ID, family = binomial, data = bacteria, verbose = FALSE))[["elapsed"]]
pql_case("glmmpql_bacteria", f, t0)
data(epil)
write.csv(epil, "epil.csv", row.names = FALSE)
t0 <- system.time(f <- glmmPQL(y ~ lbase * trt + lage + V4, random = ~ 1 | subject, family = poisson, data = epil, verbose = FALSE))[["elapsed"]]
pql_case("glmmpql_epil_poisson", f, t0)
