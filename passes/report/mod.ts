/**
 * The report model: what passes declare (tables, bars, ranges) and the self-contained HTML renderer the CLI's
 * `--report` writes. Passes build sections; only the CLI writes files.
 * @module
 */
export * from "./report.ts";
