/** Variables no client may set, whatever the allow-list says: loader, shell start-up and identity hooks. */
const NEVER = /^(LD_|DYLD_|BASH_FUNC_|BASH_ENV$|ENV$|IFS$|PS4$|PROMPT_COMMAND$|PATH$|HOME$|SHELL$|USER$|LOGNAME$|TERM$|NODE_OPTIONS$|PYTHON|PERL5|RUBYOPT$|GCONV_PATH$|BASTION_)/;
const MAX_VALUE = 1024;
export const MAX_ENV_VARS = 64;

/** Pure: may the client pass `key=value` to the target? `allow` entries may end in `*` (prefix). */
export function envAllowed(key: string, value: string, allow: readonly string[]): boolean {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) || NEVER.test(key)) return false;
  if (value.length > MAX_VALUE || /[\u0000-\u001f\u007f]/.test(value)) return false;
  return allow.some((a) => (a.endsWith('*') ? key.startsWith(a.slice(0, -1)) : key === a));
}
