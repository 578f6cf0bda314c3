suppressPackageStartupMessages(library(gamm4))
d <- read.csv("packages/gamm/tests/reference/gamm_smooths.csv")
d$g <- factor(d$g)
f <- gamm4(y ~ t2(x, z), random = ~(1 | g), data = d)
g <- f$gam
print(summary(g)$s.table)
for (j in c(11, 23)) { h <- g; h$R[, j] <- -h$R[, j]; print(c(j, summary(h)$s.table)) }
