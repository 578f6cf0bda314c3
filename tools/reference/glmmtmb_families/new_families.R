# glmmTMB 1.1.5 references for the families added in issue 15's second round: compois,
# betabinomial, ordbeta (glmmTMB itself); lognormal and nbinom12, which glmmTMB 1.1.5
# does not have (added in 1.1.6 / 1.1.8), from TMB with glmmTMB's density code
# (newer_families_tmb.cpp); prior weights; predict(newdata).  Run from this folder:
#   Rscript new_families.R <part>   (part: counts, unit, tmb, weights, predict; writes
#   new_families_<part>.json and the *_sim.csv data)
suppressPackageStartupMessages({library(glmmTMB); library(TMB); library(jsonlite)})
ref <- "/work/shared/reference/data/"
Sal <- read.csv(paste0(ref, "Salamanders.csv"))
Sal$mined <- factor(Sal$mined, levels = c("yes", "no"))
Sal$spp <- factor(Sal$spp, levels = c("GP", "PR", "DM", "EC-A", "EC-L", "DES-L", "DF"))
Sal$site <- factor(Sal$site)
part <- commandArgs(trailingOnly = TRUE)[1]
out <- list()
grab <- function(m) {
  f <- fixef(m)
  cf <- summary(m)$coefficients
  list(logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
       fixef = lapply(f[lengths(f) > 0], as.list),
       se = Filter(Negate(is.null), lapply(cf, function(t) if (is.null(t)) NULL else as.list(t[, 2]))),
       sd = lapply(Filter(Negate(is.null), VarCorr(m)), function(v) lapply(v, function(x) attr(x, "stddev"))),
       sigma = sigma(m), par = unname(m$fit$par), par_names = names(m$fit$par),
       fitted_first10 = unname(head(fitted(m), 10)),
       convergence = m$fit$convergence)
}
# --- glmmTMB's own families ---------------------------------------------------------
if (part == "counts") {
# under-dispersed counts (binomial draws), where compois's nu > 1
set.seed(14)
n <- 240; G <- 24
g <- factor(rep(seq_len(G), each = n / G))
x <- runif(n, -1, 1)
y <- rbinom(n, 10, plogis(-0.3 + 0.8 * x + rnorm(G, 0, 0.5)[g]))
cp <- data.frame(y = y, x = x, g = g)
write.csv(cp, "compois_sim.csv", row.names = FALSE)
m <- glmmTMB(y ~ x + (1 | g), family = compois, data = cp)
out$compois <- grab(m)
# beta-binomial trials (cbpp's herd variance is zero under the beta-binomial)
set.seed(18)
n <- 300; G <- 30
g <- factor(rep(seq_len(G), each = n / G))
x <- runif(n, -1, 1)
size <- sample(4:20, n, replace = TRUE)
p <- plogis(-0.4 + 0.7 * x + rnorm(G, 0, 0.6)[g])
succ <- rbinom(n, size, rbeta(n, p * 8, (1 - p) * 8))
bb <- data.frame(succ = succ, size = size, x = x, g = g)
write.csv(bb, "betabinomial_sim.csv", row.names = FALSE)
m <- glmmTMB(cbind(succ, size - succ) ~ x + (1 | g), family = betabinomial, data = bb)
out$betabinomial <- grab(m)
# the same model as proportions with the trials as weights (glmmTMB's convention)
bb$prop <- bb$succ / bb$size
m2 <- glmmTMB(prop ~ x + (1 | g), weights = size, family = betabinomial, data = bb)
out$betabinomial_prop_logLik <- as.numeric(logLik(m2))
}
if (part == "unit") {
set.seed(15)
n <- 400; G <- 40
g <- rep(seq_len(G), each = n / G)
x <- runif(n, -1, 1)
eta <- 0.3 + 0.9 * x + rnorm(G, 0, 0.6)[g]
mu <- plogis(eta)
u <- runif(n)
y <- ifelse(u < plogis(-2 - eta), 0, ifelse(u > 1 - plogis(eta - 2.2), 1, rbeta(n, mu * 6, (1 - mu) * 6)))
ob <- data.frame(y = y, x = x, g = factor(g))
write.csv(ob, "ordbeta_sim.csv", row.names = FALSE)
# glmmTMB 1.1.5's default start of the cutpoints (0, 0) gives a NaN log-likelihood
m <- glmmTMB(y ~ x + (1 | g), family = ordbeta, data = ob, start = list(psi = c(-1, 1)))
out$ordbeta <- grab(m)
out$ordbeta$predict_response_first10 <- unname(head(predict(m, type = "response"), 10))
out$ordbeta$family_params <- as.list(family_params(m))
out$ordbeta$counts <- c(zeros = sum(y == 0), ones = sum(y == 1))
}
if (part == "tmb") {
# --- lognormal and nbinom12: glmmTMB's densities in TMB ---------------------------------
compile("newer_families_tmb.cpp", flags = "-O2 -w")
dyn.load(dynlib("newer_families_tmb"))
tmbfit <- function(family, y, X, Xd, g, psi, w = rep(1, length(y))) {
  obj <- MakeADFun(list(family = family, y = y, X = X, Xd = Xd, g = as.integer(g) - 1L,
                        weights = w),
                   list(beta = rep(0, ncol(X)), betad = rep(0, ncol(Xd)),
                        b = rep(0, nlevels(g)), theta = 0, psi = psi),
                   random = "b", DLL = "newer_families_tmb", silent = TRUE)
  opt <- nlminb(obj$par, obj$fn, obj$gr, control = list(iter.max = 1000, eval.max = 1000))
  sdr <- sdreport(obj)
  list(logLik = -opt$objective, df = length(opt$par), par = unname(opt$par),
       par_names = names(opt$par), se = unname(sqrt(diag(sdr$cov.fixed))),
       convergence = opt$convergence, message = opt$message)
}
set.seed(16)
n <- 500; G <- 25
g <- factor(rep(seq_len(G), each = n / G))
x <- runif(n, -1, 1)
mu <- exp(1 + 0.5 * x + rnorm(G, 0, 0.4)[g])
s1 <- log(1 + (1.5 / mu)^2)
y <- exp(rnorm(n, log(mu) - s1 / 2, sqrt(s1)))
ln <- data.frame(y = y, x = x, g = g)
write.csv(ln, "lognormal_sim.csv", row.names = FALSE)
out$lognormal <- tmbfit(0L, y, model.matrix(~x), matrix(1, n, 1), g, numeric(0))
set.seed(17)
mu <- exp(1.2 + 0.6 * x + rnorm(G, 0, 0.5)[g])
# var = mu (1 + phi + mu / exp(psi)), phi = 1.2, exp(psi) = 2.5
y <- rnbinom(n, mu = mu, size = mu^2 / (mu * (1.2 + mu / 2.5)))
nb <- data.frame(y = y, x = x, g = g)
write.csv(nb, "nbinom12_sim.csv", row.names = FALSE)
out$nbinom12 <- tmbfit(1L, y, model.matrix(~x), matrix(1, n, 1), g, 0)
}
if (part == "weights") {
# --- prior weights -----------------------------------------------------------------------
Sal$w <- rep(c(0.5, 1, 2), length.out = nrow(Sal))
m <- glmmTMB(count ~ mined + (1 | site), ziformula = ~mined, family = nbinom2, weights = w,
             data = Sal)
out$zinb2_weights <- grab(m)
}
if (part == "predict") {
# --- predict(newdata) ----------------------------------------------------------------------
m <- glmmTMB(count ~ mined + (1 | site), ziformula = ~mined, family = nbinom2, data = Sal)
rows <- c(1, 50, 100, 200, 300)
nd <- data.frame(site = c(as.character(Sal$site[rows]), "NEW-1"),
                 mined = factor(c(as.character(Sal$mined[rows]), "no"), levels = c("yes", "no")))
pr <- list(newdata = list(site = as.character(nd$site), mined = as.character(nd$mined)))
for (ty in c("response", "link", "zprob", "conditional", "zlink")) {
  pr[[ty]] <- unname(predict(m, newdata = nd, type = ty, allow.new.levels = TRUE))
  pr[[paste0(ty, "_re_NA")]] <- unname(predict(m, newdata = nd, type = ty, re.form = NA))
}
pr$new_level_error <- tryCatch({predict(m, newdata = nd); "no error"},
                               error = function(e) conditionMessage(e))
out$predict_newdata <- pr
Orth <- read.csv(paste0(ref, "Orthodont.csv"))
Orth$Sex <- factor(Orth$Sex, levels = c("Male", "Female"))
m <- glmmTMB(distance ~ age + Sex + (1 | Subject), dispformula = ~Sex, data = Orth)
nd <- data.frame(age = c(8, 11, 14), Sex = factor(c("Male", "Female", "Female"),
                 levels = c("Male", "Female")), Subject = c("M01", "F02", "F99"))
out$predict_newdata_disp <- list(
  newdata = list(age = nd$age, Sex = as.character(nd$Sex), Subject = nd$Subject),
  response = unname(predict(m, newdata = nd, type = "response", allow.new.levels = TRUE)),
  disp = unname(predict(m, newdata = nd, type = "disp", allow.new.levels = TRUE)))
}
out$versions <- list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                     TMB = as.character(packageVersion("TMB")))
sink(paste0("new_families_", part, ".json")); cat(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE)); sink()
