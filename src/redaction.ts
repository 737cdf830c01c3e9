// Secrets that reach text meant for people (logs, error messages) are replaced by this, so the text still
// says where a secret was without saying what it was.

export const CENSOR = '[redacted]';

/** Query-string parameters that carry credentials by convention (compared lower-case). */
const SECRET_PARAMETERS = new Set([
  'key', 'api_key', 'apikey', 'api-key', 'x-api-key', 'token', 'access_token', 'refresh_token', 'id_token',
  'auth', 'authorization', 'password', 'passwd', 'pwd', 'secret', 'client_secret',
]);

function parameterName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).trim().toLowerCase();
  } catch {
    return raw.toLowerCase(); // malformed escapes: judge the name as written
  }
}

/** A request URL with the values of credential-like query parameters censored; everything else as sent. */
export function withoutQuerySecrets(url: string): string {
  const start = url.indexOf('?');
  if (start < 0) return url;
  const hash = url.indexOf('#', start);
  const end = hash < 0 ? url.length : hash;
  const query = url.slice(start + 1, end).split('&').map((pair) => {
    const equals = pair.indexOf('=');
    const name = equals < 0 ? pair : pair.slice(0, equals);
    return SECRET_PARAMETERS.has(parameterName(name)) ? `${name}=${CENSOR}` : pair;
  }).join('&');
  return url.slice(0, start + 1) + query + url.slice(end);
}

/**
 * A URL as written by a person, with whatever precedes its last '@' (user and password) censored. It
 * works on text that does not parse as a URL too (that is when it is quoted in an error), so it assumes
 * the worst: a password may hold '/', ':' or '@' unescaped.
 */
export function withoutCredentials(text: string): string {
  const scheme = /^[a-z][a-z\d+.-]*:\/\//i.exec(text)?.[0] ?? '';
  const rest = text.slice(scheme.length);
  const at = rest.lastIndexOf('@');
  return at < 0 ? text : `${scheme}${CENSOR}${rest.slice(at)}`;
}
