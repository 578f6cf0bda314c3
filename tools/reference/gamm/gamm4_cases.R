# Reference case for mixedmodels-gamm: gamm4 with two smooths and a random intercept.
# Run: Rscript gamm4_cases.R  (writes gamm4_two_smooths.json and gamm_two.csv here)
suppressPackageStartupMessages({library(gamm4); library(jsonlite)})
set.seed(20261204)
G <- 30; m <- 12; n <- G * m
g <- factor(sprintf("g%02d", rep(1:G, each = m)))
x <- runif(n); z <- runif(n)
y <- 1 + sin(2 * pi * x) + 0.5 * (z - 0.5)^2 * 8 + rnorm(G, sd = 0.6)[g] + rnorm(n, sd = 0.4)
d <- data.frame(g = g, x = x, z = z, y = y)
write.csv(d, "gamm_two.csv", row.names = FALSE)
t0 <- system.time(fit <- gamm4(y ~ s(x) + s(z), random = ~ (1 | g), data = d))[["elapsed"]]
s <- summary(fit$gam)
res <- list(case_id = "gamm4_two_smooths", call = "gamm4(y ~ s(x) + s(z), random = ~(1 | g), data = d)",
  logLik = as.numeric(logLik(fit$mer)), REML = TRUE,
  fitted = unname(fitted(fit$gam)), edf = as.list(setNames(s$edf, rownames(s$s.table))),
  s_table = list(rownames = rownames(s$s.table), colnames = colnames(s$s.table),
                 values = unname(lapply(seq_len(nrow(s$s.table)), function(i) unname(s$s.table[i, ])))),
  sigma = sigma(fit$mer), fixef_mer = as.list(lme4::fixef(fit$mer)), elapsed_s = t0)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE), "gamm4_two_smooths.json")
