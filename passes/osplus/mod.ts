/**
 * OS+ (Wei et al., "Outlier Suppression+", EMNLP 2023): channel-wise shifting and scaling folded into norms
 * and the following linears, then QDQ. Docs: ../shared METHODS.md "OS+", header of ./os_plus.ts.
 * @module
 */
export {
  migrateOsPlus,
  OsPlusNoSiteError,
  type OsPlusOptions,
  osPlusPass,
  type OsPlusResult,
  type OsPlusSiteKind,
  type OsPlusSitePlan,
  type OsPlusSiteReport,
  type OsPlusSkip,
  outlierRatio,
} from "./os_plus.ts";
