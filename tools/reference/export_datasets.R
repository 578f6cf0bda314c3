# Export the data sets shipped in packages/core/src/mixedmodels/datasets/data.
#
# Usage (from the repository root; R >= 4.2 with lme4, nlme and geepack):
#
#   Rscript tools/reference/export_datasets.R [REFERENCE_DIR]
#
# REFERENCE_DIR (default /work/shared/reference) holds the reference cases computed with R
# 4.2.2 / lme4 1.1-31 / nlme 3.1-162 / geepack 1.3.9 / glmmTMB 1.1.5; its data/<name>.csv
# files are the exact data the reference models were fitted to.  The script
#
# 1. exports lme4's Dyestuff2 (not among the reference data) to
#    tools/reference/Dyestuff2.csv in the reference CSV format: header row, quoted factor
#    columns, numbers with 15 significant digits when that round-trips exactly and 17
#    otherwise, missing values as NA;
# 2. writes tools/reference/r_metadata.json: for every data set that is available from an
#    installed R package, its R package, row count, R storage type of every column and the
#    level order / ordered flag of every factor.  This is what the column specification in
#    metadata.json is checked against (and where it comes from for Dyestuff2);
# 3. gzip-compresses (level 9) each reference CSV, byte for byte, and Dyestuff2.csv into
#    packages/core/src/mixedmodels/datasets/data/<name>.csv.gz.
#
# metadata.json (descriptions, sources, column specifications) is maintained by hand next
# to the compressed files; the core's tests check it against the shipped data.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
ref_dir <- if (length(args) >= 1) args[[1]] else "/work/shared/reference"
tools_dir <- file.path("tools", "reference")
out_dir <- file.path("packages", "core", "src", "mixedmodels", "datasets", "data")
stopifnot(dir.exists(tools_dir), dir.exists(out_dir))

# Shortest of 15 or 17 significant digits that gives back the same double (what the
# reference CSVs use), so that the Python side reads exactly R's numbers.
format_number <- function(x) {
  out <- formatC(x, digits = 15, format = "g")
  exact <- is.na(x) | as.numeric(out) == x
  out[!exact] <- formatC(x[!exact], digits = 17, format = "g")
  out <- trimws(out)
  out[is.na(x)] <- "NA"
  out
}

write_reference_csv <- function(df, path) {
  cols <- lapply(df, function(col) {
    if (is.factor(col) || is.character(col)) {
      ifelse(is.na(col), "NA", paste0("\"", as.character(col), "\""))
    } else if (is.logical(col)) {
      ifelse(is.na(col), "NA", ifelse(col, "TRUE", "FALSE"))
    } else if (is.integer(col)) {
      ifelse(is.na(col), "NA", as.character(col))
    } else {
      format_number(col)
    }
  })
  lines <- c(
    paste0("\"", names(df), "\"", collapse = ","),
    do.call(paste, c(cols, sep = ","))
  )
  writeLines(lines, path)
}

column_type <- function(col) {
  if (is.ordered(col)) "ordered_factor"
  else if (is.factor(col)) "factor"
  else if (is.integer(col)) "integer"
  else if (is.double(col)) "double"
  else if (is.logical(col)) "logical"
  else if (is.character(col)) "character"
  else stop("unsupported column class: ", paste(class(col), collapse = "/"))
}

describe_data <- function(df, package) {
  df <- as.data.frame(df) # drop nlme's groupedData classes; the columns are unchanged
  factors <- Filter(is.factor, df)
  list(
    package = package,
    n_rows = nrow(df),
    column_names = names(df),
    column_types = lapply(df, column_type),
    factor_levels = lapply(factors, function(f) list(levels = levels(f), ordered = is.ordered(f)))
  )
}

# Data sets shipped by the core that come from an installed R package.  Owls and
# Salamanders (glmmTMB) and the simulated beta_sim / spatial_sim are taken from the
# reference data only.
r_datasets <- list(
  lme4 = c("sleepstudy", "Dyestuff", "Dyestuff2", "Penicillin", "Pastes", "cake",
           "InstEval", "cbpp", "grouseticks", "VerbAgg"),
  nlme = c("Orthodont", "Ovary"),
  geepack = c("dietox", "ohio", "respiratory")
)

meta <- list()
for (pkg in names(r_datasets)) {
  for (name in r_datasets[[pkg]]) {
    env <- new.env()
    utils::data(list = name, package = pkg, envir = env)
    meta[[name]] <- describe_data(get(name, envir = env), pkg)
  }
}
meta <- meta[order(names(meta))]
writeLines(
  toJSON(meta, auto_unbox = TRUE, pretty = TRUE, digits = NA),
  file.path(tools_dir, "r_metadata.json")
)

dyestuff2_csv <- file.path(tools_dir, "Dyestuff2.csv")
write_reference_csv(as.data.frame(Dyestuff2), dyestuff2_csv)
# Check the round trip: the CSV must give back R's data exactly.
back <- utils::read.csv(dyestuff2_csv, stringsAsFactors = FALSE)
stopifnot(identical(back$Yield, Dyestuff2$Yield),
          identical(back$Batch, as.character(Dyestuff2$Batch)))

gzip_copy <- function(src, dest) {
  bytes <- readBin(src, "raw", n = file.size(src))
  con <- gzfile(dest, "wb", compression = 9)
  on.exit(close(con))
  writeBin(bytes, con)
}

ref_files <- list.files(file.path(ref_dir, "data"), pattern = "\\.csv$", full.names = TRUE)
for (src in c(ref_files, dyestuff2_csv)) {
  dest <- file.path(out_dir, paste0(basename(src), ".gz"))
  gzip_copy(src, dest)
  cat(sprintf("%-40s %8d bytes\n", dest, file.size(dest)))
}
