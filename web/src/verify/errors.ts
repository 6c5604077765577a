// The one error type of the browser verifier. Its kinds mirror the error
// values of the Go verifier (ledger/verify): every failure is exactly one
// of them.

export type VerifyErrorKind =
  | "verifier-key" // ErrVerifierKey: the pinned key (or origin) is unusable
  | "signature" // ErrSignature: no valid signature by the pinned key
  | "checkpoint" // ErrCheckpoint: a malformed note or checkpoint
  | "origin" // ErrOrigin: a well-signed checkpoint of another log
  | "inclusion" // ErrInclusion
  | "consistency" // ErrConsistency
  | "leaf-hash" // ErrLeafHash: leaf bytes that do not hash to the claimed hash
  | "leaf-mismatch"; // ErrLeafMismatch: a leaf that is not what is claimed

export const VERIFY_ERROR_KINDS: readonly VerifyErrorKind[] = [
  "verifier-key",
  "signature",
  "checkpoint",
  "origin",
  "inclusion",
  "consistency",
  "leaf-hash",
  "leaf-mismatch",
];

const summaries: Record<VerifyErrorKind, string> = {
  "verifier-key": "invalid verifier key",
  signature: "checkpoint signature not valid for the pinned key",
  checkpoint: "malformed checkpoint",
  origin: "checkpoint origin does not match the pinned origin",
  inclusion: "inclusion proof does not verify",
  consistency: "consistency proof does not verify",
  "leaf-hash": "leaf bytes do not match the leaf hash",
  "leaf-mismatch": "leaf does not belong at this position",
};

export class VerifyError extends Error {
  readonly kind: VerifyErrorKind;
  /** What exactly failed, without the kind's summary. */
  readonly detail: string;

  constructor(kind: VerifyErrorKind, detail: string) {
    super(detail ? `${summaries[kind]}: ${detail}` : summaries[kind]);
    this.name = "VerifyError";
    this.kind = kind;
    this.detail = detail;
  }
}
