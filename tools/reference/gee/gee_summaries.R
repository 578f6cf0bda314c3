# geepack's printed summaries, for the text layout tests of mixedmodels-gee.
#
#   Rscript tools/reference/gee/gee_summaries.R [REFERENCE_DIR] [OUT_DIR]
#
# print.summary.geeglm sets options(digits = 4) as a side effect, so that a second
# summary in the same session prints with 3 digits; digits are reset to R's default
# before each summary here, as a fresh session prints it.
suppressMessages(library(geepack))
args <- commandArgs(trailingOnly = TRUE)
ref_dir <- if (length(args) >= 1) args[1] else "../shared/reference"
out_dir <- if (length(args) >= 2) args[2] else "packages/gee/tests/reference"
num_levels <- function(x) as.character(sort(unique(as.numeric(as.character(x)))))
ohio <- read.csv(file.path(ref_dir, "data", "ohio.csv"))
dietox <- read.csv(file.path(ref_dir, "data", "dietox.csv"))
dietox$Cu <- factor(dietox$Cu, levels = c("Cu000", "Cu035", "Cu175"))
dietox$Pig <- factor(dietox$Pig, levels = num_levels(dietox$Pig))
respiratory <- read.csv(file.path(ref_dir, "data", "respiratory.csv"))
respiratory$treat <- factor(respiratory$treat, levels = c("A", "P"))
respiratory$sex <- factor(respiratory$sex, levels = c("F", "M"))
respiratory$cid <- interaction(respiratory$center, respiratory$id)

save <- function(fit, name) {
  options(digits = 7)
  writeLines(capture.output(print(summary(fit))), file.path(out_dir, paste0(name, ".txt")))
}
save(geeglm(resp ~ age + smoke, id = id, family = binomial, corstr = "exchangeable",
            data = ohio), "summary_ohio_exchangeable")
save(geeglm(resp ~ age + smoke, id = id, family = binomial, corstr = "unstructured",
            data = ohio), "summary_ohio_unstructured")
save(geeglm(resp ~ age + smoke, id = id, family = binomial, corstr = "independence",
            scale.fix = TRUE, data = ohio), "summary_ohio_independence_scalefix")
save(geeglm(Weight ~ Time + Cu, id = Pig, family = gaussian, corstr = "ar1", data = dietox),
     "summary_dietox_ar1")
save(geeglm(outcome ~ treat + sex + age + baseline, id = cid, family = binomial,
            corstr = "ar1", data = respiratory), "summary_respiratory_ar1")
