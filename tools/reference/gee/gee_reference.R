# Reference figures for mixedmodels-gee, beyond the geeglm cases of ../shared/reference.
#
#   Rscript tools/reference/gee/gee_reference.R [REFERENCE_DIR] [OUT_JSON]
#
# REFERENCE_DIR (default ../shared/reference) holds data/<dataset>.csv, the data the
# core ships as mixedmodels.datasets; OUT_JSON defaults to
# packages/gee/tests/reference/gee_reference.json.
#
# Contents
# * converged: the geeglm reference cases refitted with geese.control(epsilon = 1e-12),
#   i.e. the exact solution of geepack's estimating equations (geepack's default
#   epsilon = 1e-4 stops short of it by up to ~1e-5 relative);
# * more geepack fits (all with epsilon = 1e-12): Poisson with an offset, Gamma with a
#   log link, a cbind() binomial response, prior weights, AR(1) and unstructured with
#   waves that have gaps, m-dependent (userdefined zcor), a fixed working correlation,
#   data not sorted by cluster (sorted for geepack, which needs contiguous clusters),
#   a negative binomial with fixed theta (independence: glm + sandwich by hand);
# * jackknife: geepack's approximate jackknife (std.err = "jack");
# * anova: geepack's sequential Wald table and a two-model comparison;
# * qic: geepack's QIC();
# * small_sample: the Mancl-DeRouen, Kauermann-Carroll, Fay-Graubard and
#   Morel-Bokossa-Neerchal variances computed here by hand, cluster by cluster, from
#   the published formulas at the geepack solution (geesmv is not on CRAN/Debian for
#   this R).  Working covariance V_i = phi A_i^1/2 R_i A_i^1/2 (scale included, as
#   geesmv's gaussian code; geesmv omits phi for binomial/poisson, which cancels from
#   every estimate but MBN's delta*xi term).  KC uses the principal inverse square root
#   of the non-symmetric I - H_i (eigenvectors and their inverse, not their transpose).

suppressMessages({
  library(geepack)
  library(jsonlite)
  library(MASS)
})

args <- commandArgs(trailingOnly = TRUE)
ref_dir <- if (length(args) >= 1) args[1] else "../shared/reference"
out_file <- if (length(args) >= 2) args[2] else "packages/gee/tests/reference/gee_reference.json"
ctrl <- geese.control(epsilon = 1e-12, maxit = 500)

num_levels <- function(x) as.character(sort(unique(as.numeric(as.character(x)))))
read_ds <- function(name) {
  d <- read.csv(file.path(ref_dir, "data", paste0(name, ".csv")), stringsAsFactors = FALSE)
  d
}
ohio <- read_ds("ohio")
respiratory <- read_ds("respiratory")
respiratory$treat <- factor(respiratory$treat, levels = c("A", "P"))
respiratory$sex <- factor(respiratory$sex, levels = c("F", "M"))
dietox <- read_ds("dietox")
dietox$Cu <- factor(dietox$Cu, levels = c("Cu000", "Cu035", "Cu175"))
dietox$Pig <- factor(dietox$Pig, levels = num_levels(dietox$Pig))
grouse <- read_ds("grouseticks")
grouse$YEAR <- factor(grouse$YEAR, levels = c("95", "96", "97"))
grouse$BROOD <- factor(grouse$BROOD, levels = num_levels(grouse$BROOD))
cbpp <- read_ds("cbpp")
cbpp$period <- factor(cbpp$period, levels = c("1", "2", "3", "4"))
cbpp$herd <- factor(cbpp$herd, levels = num_levels(cbpp$herd))

named <- function(x, nm) {
  x <- as.numeric(x)
  names(x) <- nm
  as.list(x)
}
mat <- function(m) lapply(seq_len(nrow(m)), function(i) as.numeric(m[i, ]))

summarise_fit <- function(g) {
  s <- summary(g)
  b <- coef(g)
  out <- list(
    coef = named(b, names(b)),
    robust_se = named(sqrt(diag(g$geese$vbeta)), names(b)),
    naive_se = named(sqrt(diag(g$geese$vbeta.naiv)), names(b)),
    scale = as.numeric(g$geese$gamma),
    alpha = if (length(g$geese$alpha)) named(g$geese$alpha, names(g$geese$alpha)) else list(),
    scale_se = as.numeric(s$dispersion$Std.err),
    alpha_se = if (length(g$geese$alpha)) as.numeric(s$corr$Std.err) else list(),
    vcov_robust = mat(g$geese$vbeta),
    nobs = length(g$y),
    n_clusters = length(g$geese$clusz),
    error = g$geese$error
  )
  out
}

res <- list(
  meta = list(
    R = paste(R.version$major, R.version$minor, sep = "."),
    geepack = as.character(packageVersion("geepack")),
    MASS = as.character(packageVersion("MASS")),
    epsilon = 1e-12
  )
)

# ---------------------------------------------------------------- converged geeglm cases
resp_id <- interaction(respiratory$center, respiratory$id)
conv <- list()
conv$geeglm_ohio_independence <- summarise_fit(geeglm(resp ~ age + smoke, id = id,
  family = binomial, corstr = "independence", data = ohio, control = ctrl))
conv$geeglm_ohio_exchangeable <- summarise_fit(geeglm(resp ~ age + smoke, id = id,
  family = binomial, corstr = "exchangeable", data = ohio, control = ctrl))
conv$geeglm_ohio_unstructured <- summarise_fit(geeglm(resp ~ age + smoke, id = id,
  family = binomial, corstr = "unstructured", data = ohio, control = ctrl))
respiratory$cid <- resp_id
conv$geeglm_respiratory_exchangeable <- summarise_fit(geeglm(
  outcome ~ treat + sex + age + baseline, id = cid, family = binomial,
  corstr = "exchangeable", data = respiratory, control = ctrl))
conv$geeglm_respiratory_ar1 <- summarise_fit(geeglm(
  outcome ~ treat + sex + age + baseline, id = cid, family = binomial,
  corstr = "ar1", data = respiratory, control = ctrl))
conv$geeglm_dietox_ar1 <- summarise_fit(geeglm(Weight ~ Time + Cu, id = Pig,
  family = gaussian, corstr = "ar1", data = dietox, control = ctrl))
res$converged <- conv

# ---------------------------------------------------------------- more geepack fits
more <- list()
g_sorted <- grouse[order(as.integer(as.character(grouse$BROOD)), grouse$INDEX), ]
more$poisson_offset_exch <- summarise_fit(geeglm(TICKS ~ YEAR + cHEIGHT + offset(log(HEIGHT)),
  id = BROOD, family = poisson, corstr = "exchangeable", data = g_sorted, control = ctrl))
# geepack's gee_var reuses the previous cluster's correlation-parameter blocks for a
# cluster of one row (HiandGi returns early without resetting them), so its alpha
# standard error is off when there are singleton clusters; without them it is right.
single <- names(which(table(g_sorted$BROOD) == 1))
g_multi <- g_sorted[!(g_sorted$BROOD %in% single), ]
g_multi$BROOD <- droplevels(g_multi$BROOD)
more$poisson_offset_exch_no_singletons <- summarise_fit(geeglm(
  TICKS ~ YEAR + cHEIGHT + offset(log(HEIGHT)), id = BROOD, family = poisson,
  corstr = "exchangeable", data = g_multi, control = ctrl))
more$poisson_offset_exch_no_singletons$singleton_broods <- single
more$gamma_log_exch <- summarise_fit(geeglm(Weight ~ Time + Cu, id = Pig,
  family = Gamma(link = "log"), corstr = "exchangeable", data = dietox, control = ctrl))
cb <- cbpp[order(as.integer(as.character(cbpp$herd))), ]
cb$prop <- cb$incidence / cb$size
more$cbind_binomial_exch <- summarise_fit(geeglm(prop ~ period, id = herd, weights = size,
  family = binomial, corstr = "exchangeable", data = cb, control = ctrl))
ohio$w <- 1 + ohio$id %% 3
more$weights_ohio_exch <- summarise_fit(geeglm(resp ~ age + smoke, id = id, weights = w,
  family = binomial, corstr = "exchangeable", data = ohio, control = ctrl))

# dietox with gaps: drop Time 3, 6, 9 for pigs at odd positions, and Time 12 for every 5th
pig_pos <- as.integer(dietox$Pig)
gap <- dietox[!((pig_pos %% 2 == 1) & (dietox$Time %in% c(3, 6, 9))) &
                !((pig_pos %% 5 == 0) & (dietox$Time == 12)), ]
more$dietox_gaps_ar1 <- summarise_fit(geeglm(Weight ~ Time + Cu, id = Pig, waves = Time,
  family = gaussian, corstr = "ar1", data = gap, control = ctrl))
# ohio with missing visits: waves = age + 3 (1..4)
ou <- ohio[!((ohio$id %% 5 == 0) & (ohio$age == 1)) & !((ohio$id %% 7 == 0) & (ohio$age == -1)), ]
ou$wave <- ou$age + 3
# (geepack 1.3.9 cannot fit an unstructured structure to clusters with missing waves:
# cor_unstr indexes the cluster's own pairs by the waves and reads past the matrix; the
# tests check that case against the pairwise moment estimator computed directly.)
more$ohio_gaps_ar1 <- summarise_fit(geeglm(resp ~ age + smoke, id = id, waves = wave,
  family = binomial, corstr = "ar1", data = ou, control = ctrl))
# m-dependent (m = 2) as a userdefined structure: lag-1 and lag-2 pairs, lag 3 uncorrelated
clusz <- as.integer(table(ohio$id))
z4 <- genZcor(clusz = clusz, waves = ohio$age + 3, corstrv = 4)
zm2 <- cbind(z4[, "alpha.1:2"] + z4[, "alpha.2:3"] + z4[, "alpha.3:4"],
             z4[, "alpha.1:3"] + z4[, "alpha.2:4"])
more$ohio_mdep2 <- summarise_fit(geeglm(resp ~ age + smoke, id = id, family = binomial,
  corstr = "userdefined", zcor = zm2, data = ohio, control = ctrl))
# fixed working correlation
Rfix <- toeplitz(c(1, 0.5, 0.3, 0.2))
zfix <- fixed2Zcor(Rfix, id = ohio$id, waves = ohio$age + 3)
more$ohio_fixed <- summarise_fit(geeglm(resp ~ age + smoke, id = id, family = binomial,
  corstr = "fixed", zcor = zfix, data = ohio, control = ctrl))
more$ohio_fixed$matrix <- mat(Rfix)
# scale fixed at 1.  geeglm(scale.fix = TRUE) keeps the scale at its starting value,
# the mean squared Pearson residual of the GLM fit, not at scale.value; geese() with
# gm = 1 fixes it where the documentation says.
gf <- geese(resp ~ age + smoke, id = id, family = binomial, corstr = "exchangeable",
            scale.fix = TRUE, gm = 1, data = ohio, control = ctrl)
more$ohio_exch_scalefix <- list(
  coef = named(gf$beta, names(gf$beta)),
  robust_se = named(sqrt(diag(gf$vbeta)), names(gf$beta)),
  naive_se = named(sqrt(diag(gf$vbeta.naiv)), names(gf$beta)),
  scale = as.numeric(gf$gamma),
  alpha = named(gf$alpha, names(gf$alpha)),
  alpha_se = as.numeric(sqrt(diag(gf$valpha))),
  nobs = nrow(ohio),
  n_clusters = length(gf$clusz),
  error = gf$error
)
# probit link, respiratory AR(1)
more$respiratory_probit_ar1 <- summarise_fit(geeglm(outcome ~ treat + sex + age + baseline,
  id = cid, family = binomial(link = "probit"), corstr = "ar1", data = respiratory,
  control = ctrl))
res$more <- more

# negative binomial (theta = 2) under independence: glm + cluster sandwich by hand
nbfit <- glm(TICKS ~ YEAR + cHEIGHT, family = negative.binomial(2), data = g_sorted,
             control = glm.control(epsilon = 1e-14, maxit = 100))
X <- model.matrix(nbfit)
fam <- negative.binomial(2)
# glm.fit stops on the deviance; polish to the root of the score (linear convergence).
beta <- coef(nbfit)
for (it in 1:200) {
  eta <- drop(X %*% beta)
  mu <- fam$linkinv(eta)
  Dm <- X * fam$mu.eta(eta)
  wv <- 1 / fam$variance(mu)
  beta <- beta + drop(solve(crossprod(Dm * sqrt(wv)), crossprod(Dm, wv * (g_sorted$TICKS - mu))))
}
eta <- drop(X %*% beta)
mu <- fam$linkinv(eta)
Dm <- X * fam$mu.eta(eta)
wv <- 1 / fam$variance(mu)
bread <- solve(crossprod(Dm * sqrt(wv)))
Ui <- rowsum(Dm * wv * (g_sorted$TICKS - mu), g_sorted$BROOD)
vr <- bread %*% crossprod(Ui) %*% bread
res$negbin_independence <- list(
  theta = 2,
  coef = named(beta, names(coef(nbfit))),
  robust_se = named(sqrt(diag(vr)), names(coef(nbfit)))
)

# ---------------------------------------------------------------- jackknife
jk <- function(g) {
  list(coef = named(coef(g), names(coef(g))),
       jack_se = named(sqrt(diag(g$geese$vbeta.ajs)), names(coef(g))))
}
res$jackknife <- list(
  ohio_exchangeable = jk(geeglm(resp ~ age + smoke, id = id, family = binomial,
                                corstr = "exchangeable", data = ohio, std.err = "jack",
                                control = ctrl)),
  ohio_independence = jk(geeglm(resp ~ age + smoke, id = id, family = binomial,
                                corstr = "independence", data = ohio, std.err = "jack",
                                control = ctrl)),
  dietox_ar1 = jk(geeglm(Weight ~ Time + Cu, id = Pig, family = gaussian, corstr = "ar1",
                         data = dietox, std.err = "jack", control = ctrl)),
  ohio_unstructured = jk(geeglm(resp ~ age + smoke, id = id, family = binomial,
                                corstr = "unstructured", data = ohio, std.err = "jack",
                                control = ctrl))
)

# ---------------------------------------------------------------- anova and QIC
aov_tab <- function(a) list(terms = rownames(a), Df = as.numeric(a$Df), X2 = as.numeric(a$X2),
                            P = as.numeric(a[["P(>|Chi|)"]]))
g_d <- geeglm(Weight ~ Time + Cu, id = Pig, family = gaussian, corstr = "ar1", data = dietox,
              control = ctrl)
g_d0 <- geeglm(Weight ~ Time, id = Pig, family = gaussian, corstr = "ar1", data = dietox,
               control = ctrl)
g_r <- geeglm(outcome ~ treat + sex + age + baseline, id = cid, family = binomial,
              corstr = "exchangeable", data = respiratory, control = ctrl)
g_oi <- geeglm(resp ~ age * smoke, id = id, family = binomial, corstr = "exchangeable",
               data = ohio, control = ctrl)
res$anova <- list(
  dietox_ar1 = aov_tab(anova(g_d)),
  respiratory_exchangeable = aov_tab(anova(g_r)),
  ohio_interaction = aov_tab(anova(g_oi)),
  dietox_nested = aov_tab(anova(g_d, g_d0))
)
qic_of <- function(g) {
  q <- QIC(g)
  named(q, c("QIC", "QICu", "QuasiLik", "CIC", "params", "QICC"))
}
res$qic <- list(
  dietox_ar1 = qic_of(g_d),
  respiratory_exchangeable = qic_of(g_r),
  ohio_ar1 = qic_of(geeglm(resp ~ age + smoke, id = id, family = binomial, corstr = "ar1",
                           data = ohio, control = ctrl)),
  ohio_unstructured = qic_of(geeglm(resp ~ age + smoke, id = id, family = binomial,
                                    corstr = "unstructured", data = ohio, control = ctrl))
)

# ---------------------------------------------------------------- small-sample corrections
principal_power <- function(A, power) {
  # Principal power of a matrix with real positive eigenvalues (here I - H_i, similar to
  # a symmetric positive definite matrix).
  e <- eigen(A)
  vec <- Re(e$vectors)
  vec %*% diag(Re(e$values)^power, nrow(A)) %*% solve(vec)
}

corrections <- function(g, X, y, id, waves, corfun, b = 0.75, d = 2, r = 1) {
  beta <- coef(g)
  eta <- drop(X %*% beta)
  fam <- g$family
  mu <- fam$linkinv(eta)
  mu_eta <- fam$mu.eta(eta)
  v <- fam$variance(mu)
  phi <- as.numeric(g$geese$gamma)
  alpha <- g$geese$alpha
  p <- length(beta)
  ids <- unique(id)
  K <- length(ids)
  N <- length(y)
  parts <- lapply(ids, function(k) {
    i <- which(id == k)
    Di <- X[i, , drop = FALSE] * mu_eta[i]
    Ri <- corfun(alpha, waves[i])
    Vi <- phi * diag(sqrt(v[i]), length(i)) %*% Ri %*% diag(sqrt(v[i]), length(i))
    list(D = Di, Vinv = solve(Vi), e = y[i] - mu[i], n = length(i))
  })
  Omega <- Reduce(`+`, lapply(parts, function(q) t(q$D) %*% q$Vinv %*% q$D))
  Oinv <- solve(Omega)
  U <- function(kind) {
    t(sapply(parts, function(q) {
      base <- t(q$D) %*% q$Vinv
      if (kind == "robust") return(drop(base %*% q$e))
      IH <- diag(q$n) - q$D %*% Oinv %*% t(q$D) %*% q$Vinv
      if (kind == "md") return(drop(base %*% solve(IH) %*% q$e))
      if (kind == "kc") return(drop(base %*% principal_power(IH, -0.5) %*% q$e))
      if (kind == "fg") {
        Qi <- t(q$D) %*% q$Vinv %*% q$D %*% Oinv
        Ai <- diag((1 - pmin(b, diag(Qi)))^(-0.5), p)
        return(drop(Ai %*% base %*% q$e))
      }
    }))
  }
  sandwich <- function(Um) Oinv %*% crossprod(Um) %*% Oinv
  M <- crossprod(U("robust"))
  kfac <- (N - 1) / (N - p) * K / (K - 1)
  delta <- if (K > (d + 1) * p) p / (K - p) else 1 / d
  xi <- max(r, sum(diag(Oinv %*% M)) / p)
  list(
    coef = named(beta, names(beta)),
    alpha = as.numeric(alpha),
    scale = phi,
    n_clusters = K,
    cluster_sizes = as.integer(table(factor(id, levels = ids))),
    naive = mat(Oinv),
    robust = mat(sandwich(U("robust"))),
    geepack_robust = mat(g$geese$vbeta),
    md = mat(sandwich(U("md"))),
    kc = mat(sandwich(U("kc"))),
    fg = mat(sandwich(U("fg"))),
    mbn = mat(kfac * Oinv %*% M %*% Oinv + delta * xi * Oinv)
  )
}
exch <- function(alpha, w) {
  R <- matrix(alpha, length(w), length(w))
  diag(R) <- 1
  R
}
ar1 <- function(alpha, w) alpha^abs(outer(w, w, "-"))

small <- list()
# A: respiratory, center 1 (56 patients, 4 visits), binomial exchangeable
rc <- respiratory[respiratory$center == 1, ]
g <- geeglm(outcome ~ treat + age + baseline, id = id, family = binomial,
            corstr = "exchangeable", data = rc, control = ctrl)
small$respiratory_center1_exch <- corrections(g, model.matrix(g), rc$outcome, rc$id,
                                              rc$visit, exch)
# B: ohio, 45 children (id divisible by 12) with missing visits (clusters of 2, 3 and 4 rows), exchangeable
ob <- ohio[ohio$id %% 12 == 0 & !((ohio$id %% 5 == 0) & (ohio$age == 1)) &
             !((ohio$id %% 3 == 0) & (ohio$age == -2)) & !((ohio$id %% 7 == 0) & (ohio$age == 0)), ]
g <- geeglm(resp ~ age + smoke, id = id, family = binomial, corstr = "exchangeable",
            data = ob, control = ctrl)
small$ohio_small_unbalanced_exch <- corrections(g, model.matrix(g), ob$resp, ob$id,
                                                ob$age + 3, exch)
# C: dietox, 15 pigs with gaps in Time, gaussian AR(1) on the Time lags
dc <- dietox[as.integer(dietox$Pig) <= 15 &
               !((as.integer(dietox$Pig) %% 2 == 1) & (dietox$Time %in% c(4, 8))), ]
g <- geeglm(Weight ~ Time + Cu, id = Pig, waves = Time, family = gaussian, corstr = "ar1",
            data = dc, control = ctrl)
small$dietox_small_gaps_ar1 <- corrections(g, model.matrix(g), dc$Weight,
                                           as.character(dc$Pig), dc$Time, ar1)
# D: poisson, grouse ticks at the odd-numbered locations (32 clusters of 1 to 20 rows),
# exchangeable.  (By brood instead, geepack's alpha exceeds 1: an exchangeable working
# correlation that is not positive definite, which geepack uses without complaint.)
grouse$LOCATION <- factor(grouse$LOCATION, levels = num_levels(grouse$LOCATION))
gl <- grouse[as.integer(grouse$LOCATION) %% 2 == 1, ]
gl <- gl[order(as.integer(gl$LOCATION), as.integer(gl$INDEX)), ]
g <- geeglm(TICKS ~ YEAR + cHEIGHT, id = LOCATION, family = poisson, corstr = "exchangeable",
            data = gl, control = ctrl)
small$grouse_small_poisson_exch <- corrections(g, model.matrix(g), gl$TICKS,
                                               as.character(gl$LOCATION),
                                               ave(seq_along(gl$LOCATION), gl$LOCATION,
                                                   FUN = seq_along),
                                               exch)
gb <- g_sorted[as.integer(g_sorted$BROOD) %% 4 == 1, ]
gb$BROOD <- droplevels(gb$BROOD)
g <- geeglm(TICKS ~ YEAR + cHEIGHT, id = BROOD, family = poisson, corstr = "exchangeable",
            data = gb, control = ctrl)
res$invalid_alpha <- list(alpha = as.numeric(g$geese$alpha), n_clusters = length(g$geese$clusz))
res$small_sample <- small

dir.create(dirname(out_file), showWarnings = FALSE, recursive = TRUE)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"),
           out_file)
cat("wrote", out_file, "\n")
