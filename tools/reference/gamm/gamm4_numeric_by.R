# Reference cases for mixedmodels-gamm: numeric `by` variables, s(x, by = w) (mgcv: the
# smooth multiplied by w, no centring constraint), thin-plate and cubic regression.
# Run: Rscript gamm4_numeric_by.R  (writes gamm_numby.csv and gamm4_numeric_by.json here)
suppressPackageStartupMessages({library(gamm4); library(jsonlite)})
set.seed(20261206)
G <- 30; m <- 12; n <- G * m
g <- factor(sprintf("g%02d", rep(1:G, each = m)))
x <- runif(n); w <- rnorm(n, 1, 0.5)
y <- 1 + w * sin(2 * pi * x) + rnorm(G, sd = 0.6)[g] + rnorm(n, sd = 0.4)
d <- data.frame(g = g, x = x, w = w, y = y)
write.csv(d, "gamm_numby.csv", row.names = FALSE)
cases <- list(tp = y ~ s(x, by = w), cr = y ~ s(x, by = w, bs = "cr", k = 6))
res <- list()
for (nm in names(cases)) {
  fit <- gamm4(cases[[nm]], random = ~ (1 | g), data = d)
  s <- summary(fit$gam)
  res[[nm]] <- list(formula = deparse(cases[[nm]]), logLik = as.numeric(logLik(fit$mer)),
    fitted = unname(fitted(fit$gam)), edf = unname(s$edf), label = rownames(s$s.table),
    sigma = sigma(fit$mer), n_fixed = ncol(fit$mer@pp$X))
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), "gamm4_numeric_by.json")
