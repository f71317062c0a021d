/*
 * tmbus-admin: key and roster tooling for members and governors. Each
 * subcommand family lives in its own file; this header is their contract.
 * Every subcommand returns the process exit status: 0 on success, 1 with a
 * one-line reason on stderr on failure, 64 (EX_USAGE) on bad usage.
 */
#ifndef TMBUS_ADMIN_H
#define TMBUS_ADMIN_H

#define ADMIN_EX_USAGE 64

/* tmbus-admin keygen member|client|governor ... (argv[0] is "keygen"). */
int admin_keygen(int argc, char **argv);

/* tmbus-admin roster create|sign|verify|show ... (argv[0] is "roster"). */
int admin_roster(int argc, char **argv);

/* tmbus-admin audit verify|show ... (argv[0] is "audit"). Exit 0 when the
 * log verifies, 1 when it does not, 2 when it cannot be read. */
int admin_audit(int argc, char **argv);

/* tmbus-admin bundle vector|export|import ... (argv[0] is "bundle"). Exit 0
 * on success, 1 when a bundle or vector is refused, 2 when it cannot run,
 * 3 when an imported bundle held nothing new (a replay). */
int admin_bundle(int argc, char **argv);

#endif
