# Reference cases for mixedmodels-gamm: bs = "cr", s(x, by = f), t2(x, z), with
# summary.gam's smooth table (edf, Ref.df, F, p-value) printed and at full precision.
# Run: Rscript gamm4_smooth_cases.R  (writes gamm_smooths.csv and gamm4_<case>.json here)
# The CSV holds mgcv's basis columns (predict(gam, type = "lpmatrix")) of each case, so
# that a basis mismatch can be told apart from a fitting one.
suppressPackageStartupMessages({library(gamm4); library(jsonlite)})
set.seed(20261205)
G <- 30; m <- 12; n <- G * m
g <- factor(sprintf("g%02d", rep(1:G, each = m)))
f <- factor(sample(c("a", "b", "c"), n, replace = TRUE))
x <- runif(n); z <- runif(n)
fx <- c(a = 1, b = -1, c = 0.5)[as.character(f)]
y <- 1 + fx * sin(2 * pi * x) + (z - 0.5)^2 * 4 + x * z + (f == "b") * 0.5 +
  rnorm(G, sd = 0.6)[g] + rnorm(n, sd = 0.4)
d <- data.frame(g = g, f = f, x = x, z = z, y = y)
cases <- list(
  gamm4_cr = y ~ s(x, bs = "cr"),
  gamm4_by = y ~ f + s(x, by = f),
  gamm4_by_cr = y ~ f + s(x, by = f, bs = "cr", k = 6),
  gamm4_t2 = y ~ t2(x, z)
)
out <- d
tests <- list()
for (nm in names(cases)) {
  fo <- cases[[nm]]
  t0 <- system.time(fit <- gamm4(fo, random = ~ (1 | g), data = d))[["elapsed"]]
  s <- summary(fit$gam)
  Xp <- predict(fit$gam, type = "lpmatrix")
  for (sm in fit$gam$smooth) {
    cols <- sm$first.para:sm$last.para
    for (j in seq_along(cols)) out[[paste0(nm, "__", sm$label, "__", j)]] <- Xp[, cols[j]]
  }
  # summary.gam's testStat inputs and outputs (gamm4's $gam: X = object$R)
  rdf <- length(fit$gam$y) - sum(fit$gam$edf)
  for (sm in fit$gam$smooth) {
    ii <- sm$first.para:sm$last.para
    p <- fit$gam$coefficients[ii]; V <- fit$gam$Vp[ii, ii]; Xt <- fit$gam$R[, ii]
    rank <- min(ncol(Xt), sum(fit$gam$edf[ii]))
    ts <- mgcv:::testStat(p, Xt, V, rank, type = 0, res.df = rdf)
    tests[[length(tests) + 1]] <- list(case = nm, label = sm$label, p = unname(p),
      XtX = unname(crossprod(Xt)), V = unname(V), rank = rank, res_df = rdf,
      stat = ts$stat, pval = ts$pval, ref_df = ts$rank)
  }
  printed <- capture.output(print(s))
  res <- list(case_id = nm, call = paste0("gamm4(", deparse(fo), ", random = ~(1 | g), data = d)"),
    logLik = as.numeric(logLik(fit$mer)), REML = TRUE,
    fitted = unname(fitted(fit$gam)),
    smooth_fitted = lapply(setNames(fit$gam$smooth, sapply(fit$gam$smooth, function(s) s$label)),
      function(sm) unname(drop(Xp[, sm$first.para:sm$last.para, drop = FALSE] %*%
        fit$gam$coefficients[sm$first.para:sm$last.para]))),
    coefficients = as.list(fit$gam$coefficients),
    edf = as.list(setNames(s$edf, rownames(s$s.table))),
    s_table = list(rownames = rownames(s$s.table), colnames = colnames(s$s.table),
      values = unname(lapply(seq_len(nrow(s$s.table)), function(i) unname(s$s.table[i, ])))),
    residual_df = fit$gam$df.residual,
    summary_printed = printed,
    sigma = sigma(fit$mer), fixef_mer = as.list(lme4::fixef(fit$mer)),
    varcorr_mer = as.data.frame(lme4::VarCorr(fit$mer)), elapsed_s = t0)
  writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), paste0(nm, ".json"))
}
# t2: the columns it is fitted in (gam.setup's X: only the unpenalised block constrained);
# predict() and the lpmatrix use a sum-to-zero constraint over all columns instead
G <- mgcv:::gam.setup(interpret.gam(y ~ t2(x, z)), pterms = terms(y ~ 1), data = d,
  knots = NULL, sp = NULL, min.sp = NULL, H = NULL, absorb.cons = TRUE, sparse.cons = 0,
  gamm.call = TRUE)
for (j in 2:ncol(G$X)) out[[paste0("gamm4_t2__fit_basis__", j - 1)]] <- G$X[, j]
writeLines(toJSON(tests, digits = NA, auto_unbox = TRUE), "gamm4_teststat.json")
write.csv(out, "gamm_smooths.csv", row.names = FALSE)
