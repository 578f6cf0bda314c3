# Reference fits for mixedmodels-spatial (issue 14): nlme corGaus / corSpher with a
# nugget, glmmTMB Poisson with a Matern field.  Run: Rscript spatial_references.R
# Writes <case>.csv (data) and <case>.json (results) next to this script.
suppressPackageStartupMessages({library(nlme); library(glmmTMB); library(jsonlite)})
out <- function(name, data, res) {
  write.csv(data, paste0(name, ".csv"), row.names = FALSE)
  res$versions <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                       glmmTMB = as.character(packageVersion("glmmTMB")))
  writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), paste0(name, ".json"))
}
mvn <- function(S) drop(t(chol(S)) %*% rnorm(nrow(S)))

# 1. corGaus with nugget, ML.
if (!file.exists("gls_corgaus_nugget_ml.json")) {
set.seed(20261204)
n <- 250
d1 <- data.frame(sx = runif(n, 0, 10), sy = runif(n, 0, 10), x1 = rnorm(n))
D <- as.matrix(dist(d1[, c("sx", "sy")]))
S <- 0.75 * exp(-(D / 2)^2) + 0.25 * diag(n)
d1$z <- 2 + 0.5 * d1$x1 + 1.1 * mvn(S + 1e-8 * diag(n))
f1 <- gls(z ~ x1, correlation = corGaus(form = ~sx + sy, nugget = TRUE), data = d1, method = "ML")
cs1 <- coef(f1$modelStruct$corStruct, unconstrained = FALSE)
out("gls_corgaus_nugget_ml", d1, list(
  call = "gls(z ~ x1, correlation = corGaus(form = ~sx + sy, nugget = TRUE), data, method = 'ML')",
  logLik = as.numeric(logLik(f1)), coef = as.list(coef(f1)), sigma = f1$sigma,
  corStruct = as.list(cs1)))

}
# 2. corSpher with nugget, REML.
if (!file.exists("gls_corspher_nugget_reml.json")) {
set.seed(20261205)
n <- 250
d2 <- data.frame(sx = runif(n, 0, 10), sy = runif(n, 0, 10), x1 = rnorm(n), x2 = rnorm(n))
D <- as.matrix(dist(d2[, c("sx", "sy")]))
h <- pmin(D / 4, 1)
S <- 0.7 * (1 - 1.5 * h + 0.5 * h^3) + 0.3 * diag(n)
d2$z <- 1 - 0.3 * d2$x1 + 0.8 * d2$x2 + mvn(S)
# nlme from its default start ends at range 9130, nugget 1e-4 (a lower logLik):
# start it at range 4, nugget 0.2.
f2 <- gls(z ~ x1 + x2, correlation = corSpher(c(4, 0.2), form = ~sx + sy, nugget = TRUE), data = d2,
          method = "REML")
cs2 <- coef(f2$modelStruct$corStruct, unconstrained = FALSE)
out("gls_corspher_nugget_reml", d2, list(
  call = "gls(z ~ x1 + x2, correlation = corSpher(c(4, 0.2), form = ~sx + sy, nugget = TRUE), data, method = 'REML')",
  logLik = as.numeric(logLik(f2)), coef = as.list(coef(f2)), sigma = f2$sigma,
  corStruct = as.list(cs2)))

}
# 3. glmmTMB Poisson with a Matern field (smoothness estimated).
set.seed(20261207)
nl <- 100
loc <- data.frame(gx = round(runif(nl, 0, 10), 2), gy = round(runif(nl, 0, 10), 2))
D <- as.matrix(dist(loc))
u <- mvn(0.5 * (1 + D / 1.2) * exp(-D / 1.2) + 1e-8 * diag(nl))
d3 <- loc[rep(seq_len(nl), each = 3), ]
d3$x <- rnorm(nrow(d3))
d3$y <- rpois(nrow(d3), exp(1 + 0.4 * d3$x + rep(u, each = 3)))
d3$pos <- numFactor(d3$gx, d3$gy)
d3$group <- factor(1)
f3 <- glmmTMB(y ~ x + mat(pos + 0 | group), family = poisson, data = d3)
th <- f3$fit$par[names(f3$fit$par) == "theta"]
d3w <- d3; d3w$pos <- as.character(d3w$pos)
out("glmmtmb_poisson_matern", d3w, list(
  call = "glmmTMB(y ~ x + mat(pos + 0 | group), family = poisson, data)",
  logLik = as.numeric(logLik(f3)), fixef = as.list(fixef(f3)$cond), theta = unname(th),
  sd = exp(th[1]), range = exp(th[2]), smoothness = exp(th[3]),
  convergence = f3$fit$convergence))
