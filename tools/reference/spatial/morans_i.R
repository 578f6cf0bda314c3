# ape::Moran.I of z in spatial_exp_nugget_sim (inverse-distance weights), for
# mixedmodels_spatial.morans_i.  Run: Rscript morans_i.R
suppressPackageStartupMessages({library(ape); library(jsonlite)})
d <- read.csv("../../../packages/spatial/tests/reference/spatial_exp_nugget_sim.csv")
w <- 1 / as.matrix(dist(d[, c("sx", "sy")]))
diag(w) <- 0
res <- Moran.I(d$z, w)
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), "morans_i.json")
