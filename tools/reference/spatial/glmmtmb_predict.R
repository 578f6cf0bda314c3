# glmmTMB's predictions of a Poisson GLMM with an exponential field at new and fitted
# locations (issue 14, spatial_glmm's predict).  Data: glmmtmb_poisson_matern.csv (made
# by spatial_references.R).  Run: Rscript glmmtmb_predict.R  -> glmmtmb_predict_exp.json
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
d <- read.csv("glmmtmb_poisson_matern.csv")
d$pos <- numFactor(d$gx, d$gy)
d$group <- factor(d$group)
t0 <- proc.time()
f <- glmmTMB(y ~ x + exp(pos + 0 | group), family = poisson, data = d)
cpu <- (proc.time() - t0)[["user.self"]]
set.seed(3)
nd <- data.frame(gx = round(runif(6, 0, 10), 2), gy = round(runif(6, 0, 10), 2),
                 x = round(rnorm(6), 3))
nd <- rbind(nd, data.frame(gx = d$gx[c(1, 50)], gy = d$gy[c(1, 50)], x = c(0.5, -0.2)))
nd$pos <- numFactor(nd$gx, nd$gy)
nd$group <- factor(1)
p <- predict(f, nd, allow.new.levels = TRUE, se.fit = TRUE)
pr <- predict(f, nd, allow.new.levels = TRUE, type = "response")
res <- list(
  call = "glmmTMB(y ~ x + exp(pos + 0 | group), family = poisson, data); predict(fit, newdata, allow.new.levels = TRUE, se.fit = TRUE)",
  logLik = as.numeric(logLik(f)), par = unname(f$fit$par), par_names = names(f$fit$par),
  newdata = nd[, c("gx", "gy", "x")], fit = unname(p$fit), se_fit = unname(p$se.fit),
  response = unname(pr), fit_cpu_seconds = cpu,
  vcov_full = unname(as.matrix(vcov(f, full = TRUE))),
  vcov_full_names = colnames(vcov(f, full = TRUE)),
  versions = list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB"))))
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmmtmb_predict_exp.json")
