# Reference figures for mixedmodels_diagnostics' scaled residuals and their tests.
#
# DHARMa itself is not installable here (no CRAN access; not in Debian), so this script
# reproduces DHARMa's *deterministic* computations with the packages DHARMa calls:
#   - lme4::simulate (unconditional, re.form = NA) gives the simulation matrix that
#     DHARMa::simulateResiduals would use; it is written out so that Python can build
#     ScaledResiduals.from_simulations() on exactly the same matrix;
#   - DHARMa's getQuantile (method "PIT") lower/upper bounds, testDispersion (type
#     "DHARMa", refit = FALSE: sd(x - fitted)), testZeroInflation (testGeneric with
#     countZeros) and getP, transcribed from DHARMa 0.4.x (R/helper.R, R/tests.R);
#   - stats::ks.test, stats::binom.test (testOutliers type "binomial"),
#     lmtest::dwtest (testTemporalAutocorrelation passes alternative = "two.sided"; dwtest's own default is "greater") and ape::Moran.I with
#     inverse-distance weights (testSpatialAutocorrelation) on a fixed residual vector.
# Run:  Rscript tools/reference/dharma_reference.R   (writes next to this script and to
# packages/diagnostics/tests/reference/)
suppressMessages({library(lme4); library(lmtest); library(ape); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
out_dirs <- c(here, file.path(here, "..", "..", "packages", "diagnostics", "tests", "reference"))

set.seed(20240611)
n <- 200; groups <- 20
g <- rep(seq_len(groups), each = n / groups)
x <- rnorm(n)
y <- rpois(n, exp(0.3 + 0.5 * x + rnorm(groups, 0, 0.6)[g]))
dat <- data.frame(y = y, x = x, g = factor(g))
fit <- glmer(y ~ x + (1 | g), data = dat, family = poisson)
nsim <- 250
sims <- as.matrix(simulate(fit, nsim = nsim, seed = 1))       # re.form = NA (unconditional)
fitted_resp <- fitted(fit)                                   # DHARMa's fittedPredictedResponse

# DHARMa getQuantile, method = "PIT": the deterministic bounds.
lower <- rowMeans(sims < y)
upper <- rowMeans(sims <= y)

# testDispersion (refit = FALSE, type = "DHARMa") via testGeneric and getP.
getP <- function(simulated, observed, alternative) {
  if (alternative == "greater") p <- mean(simulated >= observed)
  if (alternative == "less") p <- mean(simulated <= observed)
  if (alternative == "two.sided") p <- min(min(mean(simulated <= observed), mean(simulated >= observed)) * 2, 1)
  p
}
spread <- function(v) sd(v - fitted_resp)
disp_obs <- spread(y); disp_sim <- apply(sims, 2, spread)
countZeros <- function(v) sum(v == 0)
zi_obs <- countZeros(y); zi_sim <- apply(sims, 2, countZeros)

# Tests on a fixed residual vector (the PIT midpoints: deterministic).
res <- (lower + upper) / 2
ks <- suppressWarnings(ks.test(res, "punif"))
outl <- sum(res < 1 / (nsim + 1)) + sum(res > 1 - 1 / (nsim + 1))
bt <- binom.test(outl, n, p = 2 / (nsim + 1))
time <- sample.int(n)
dw_big <- dwtest(res ~ 1, order.by = time, alternative = "two.sided")                 # n = 200: normal approximation
res80 <- res[1:80]; time80 <- time[time <= 80]
time80 <- rank(time[1:80])
dw_small <- dwtest(res80 ~ 1, order.by = time80, alternative = "two.sided")           # n = 80: exact (pan)
dw_small_g <- dwtest(res80 ~ 1, order.by = time80, alternative = "greater")
cx <- runif(n); cy <- runif(n)
inv <- 1 / as.matrix(dist(cbind(cx, cy))); diag(inv) <- 0
mi <- Moran.I(res, inv)
mi_g <- Moran.I(res, inv, alternative = "greater")

for (d in out_dirs) {
  dir.create(d, showWarnings = FALSE, recursive = TRUE)
  write.csv(data.frame(y = y, x = x, g = g, fitted = fitted_resp, time = time, cx = cx, cy = cy),
            file.path(d, "dharma_poisson_data.csv"), row.names = FALSE)
  write.csv(sims, file.path(d, "dharma_poisson_simulations.csv"), row.names = FALSE)
  write_json(list(
    lower = lower, upper = upper,
    dispersion = list(statistic = disp_obs / mean(disp_sim), observed = disp_obs,
                      p_value = getP(disp_sim, disp_obs, "two.sided")),
    zero_inflation = list(statistic = zi_obs / mean(zi_sim),
                          p_value = getP(zi_sim, zi_obs, "two.sided")),
    ks = list(statistic = unname(ks$statistic), p_value = ks$p.value),
    outliers = list(statistic = outl, p_value = bt$p.value),
    dwtest_approx = list(statistic = unname(dw_big$statistic), p_value = dw_big$p.value),
    dwtest_exact = list(statistic = unname(dw_small$statistic), p_value = dw_small$p.value),
    dwtest_exact_greater = list(p_value = dw_small_g$p.value),
    moran = list(observed = mi$observed, expected = mi$expected, sd = mi$sd, p_value = mi$p.value),
    moran_greater = list(p_value = mi_g$p.value),
    r_version = R.version.string,
    lme4_version = as.character(packageVersion("lme4"))
  ), file.path(d, "dharma_poisson_reference.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
}
