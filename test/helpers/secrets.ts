/**
 * Every secret the test run uses (plaintexts, passphrases, credential secrets, data keys).
 * The last test of the run searches the whole captured log for each of them.
 */
export const usedSecrets = new Set<string>();

/** Records a secret in the forms it could leak in: as given, base64 and hex of its bytes. */
export function rememberSecret(secret: string | Buffer): void {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (bytes.length < 8) return; // too short to search for without false alarms
  if (typeof secret === 'string') usedSecrets.add(secret);
  usedSecrets.add(bytes.toString('base64'));
  usedSecrets.add(bytes.toString('hex'));
}
