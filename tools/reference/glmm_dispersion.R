# Reference figures for GLMMs with a dispersion parameter (glmmTMB, ML by Laplace):
# Gamma(log) and gaussian(log) with a random intercept, on simulated data (glmmTMB has
# no inverse Gaussian family).
# Run: Rscript glmm_dispersion.R  (writes glmm_dispersion.csv and glmm_dispersion.json)
suppressMessages(library(glmmTMB))
set.seed(42)
g <- factor(rep(sprintf("g%02d", 1:30), each = 12))
x <- rnorm(360)
b <- rnorm(30, sd = 0.4)[g]
mu <- exp(1 + 0.5 * x + b)
y_gamma <- rgamma(360, shape = 4, scale = mu / 4)
y_ig <- statmod_free_rinvgauss <- function(n, mean, shape) {
  nu <- rnorm(n)^2; xx <- mean + mean^2 * nu / (2 * shape) -
    mean / (2 * shape) * sqrt(4 * mean * shape * nu + mean^2 * nu^2)
  ifelse(runif(n) <= mean / (mean + xx), xx, mean^2 / xx)
}
y_ig <- y_ig(360, mu, 8)
y_gauss <- mu + rnorm(360, sd = 0.15)
d <- data.frame(g = g, x = x, y_gamma = y_gamma, y_ig = y_ig, y_gauss = y_gauss)
write.csv(d, "glmm_dispersion.csv", row.names = FALSE)
grab <- function(fit) list(
  fixef = unname(fixef(fit)$cond), logLik = as.numeric(logLik(fit)),
  sd_g = unname(attr(VarCorr(fit)$cond$g, "stddev")), sigma = sigma(fit),
  se = unname(sqrt(diag(vcov(fit)$cond))))
out <- list(
  gamma = grab(glmmTMB(y_gamma ~ x + (1 | g), d, family = Gamma(link = "log"))),
  gaussian_log = grab(glmmTMB(y_gauss ~ x + (1 | g), d, family = gaussian(link = "log"))))
writeLines(jsonlite::toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           "glmm_dispersion.json")
