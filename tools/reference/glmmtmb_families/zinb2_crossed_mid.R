# A mid-size regression case for the families plugin's speed work (issue 15): a
# simulated zero-inflated NB2 with two crossed random intercepts (4,000 rows, 400 x 40
# levels), the 100,000-row benchmark's shape scaled down.  A wrong-optimum bug once passed
# every small reference case and was caught only by the benchmark's logLik comparison.
# Writes zinb2_crossed_mid.csv and zinb2_crossed_mid.json (glmmTMB 1.1.5).
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
set.seed(20261205)
n <- 4000
a <- sample.int(400, n, replace = TRUE)
b <- sample.int(40, n, replace = TRUE)
x <- rnorm(n); z <- rnorm(n)
eta <- 0.5 + 0.4 * x + rnorm(400, 0, 0.5)[a] + rnorm(40, 0, 0.3)[b]
mu <- exp(eta)
y <- rnbinom(n, size = 2, mu = mu)
pz <- plogis(-1 + 0.5 * z)
y[runif(n) < pz] <- 0
d <- data.frame(y = y, x = round(x, 6), z = round(z, 6), a = paste0("a", a), b = paste0("b", b))
write.csv(d, "zinb2_crossed_mid.csv", row.names = FALSE)
d <- read.csv("zinb2_crossed_mid.csv")
d$a <- factor(d$a); d$b <- factor(d$b)
m <- glmmTMB(y ~ x + (1 | a) + (1 | b), ziformula = ~z, family = nbinom2, data = d)
f <- fixef(m)
out <- list(
  call = "glmmTMB(y ~ x + (1 | a) + (1 | b), ziformula = ~z, family = nbinom2)",
  glmmTMB = as.character(packageVersion("glmmTMB")),
  logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
  fixef = lapply(f[lengths(f) > 0], as.list),
  se = lapply(Filter(Negate(is.null), lapply(summary(m)$coefficients,
    function(t) if (is.null(t)) NULL else as.list(t[, 2]))), identity),
  sd = lapply(Filter(Negate(is.null), VarCorr(m)),
    function(v) lapply(v, function(x) attr(x, "stddev"))),
  sigma = sigma(m), par = unname(m$fit$par),
  levels = list(a = levels(d$a), b = levels(d$b)))
sink("zinb2_crossed_mid.json"); cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE)); sink()
