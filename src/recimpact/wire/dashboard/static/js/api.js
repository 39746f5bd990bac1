// Every request the dashboard makes goes through `request` below: same origin, the browser's credentials, and
// one place to read AWS-format errors. Authentication (a header, or a redirect to a login page) belongs here.

export class ApiError extends Error {
  constructor(type, message, status) {
    super(message ? `${type}: ${message}` : type);
    this.type = type;
    this.detail = message;
    this.status = status;
  }
}

// On a server with --credentials the page signs in at /login (an HttpOnly session cookie); requests that change
// state echo the session's CSRF token (the readable recimpact_csrf cookie) in X-Recimpact-Csrf.
function csrfHeader(method) {
  if (!method || ["GET", "HEAD"].includes(method.toUpperCase())) return {};
  const match = document.cookie.match(/(?:^|;\s*)recimpact_csrf=([^;]*)/);
  return match ? { "X-Recimpact-Csrf": decodeURIComponent(match[1]) } : {};
}

async function request(path, options = {}) {
  let response;
  try {
    const headers = { ...(options.headers || {}), ...csrfHeader(options.method) };
    response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...options, headers });
  } catch (error) {
    throw new ApiError("NetworkError", `cannot reach the server (${error.message})`, 0);
  }
  if (response.ok) return response;
  if (response.status === 401 || response.status === 403) {
    const here = location.pathname + location.search + location.hash;
    location.assign(`/login?next=${encodeURIComponent(here)}`);
  }
  // Both APIs answer errors in the AWS format: the class in x-amzn-ErrorType and {"__type", "message"}.
  let type = response.headers.get("x-amzn-ErrorType") || `HTTP ${response.status}`;
  let message = "";
  try {
    const body = await response.json();
    type = (body.__type || type).split("#").pop();
    message = body.message || body.Message || "";
  } catch {
    message = response.statusText;
  }
  throw new ApiError(type.split(":")[0], message, response.status);
}

/** One AWS control-plane call: `POST /` with `X-Amz-Target: AmazonPersonalize.<operation>` (JSON 1.1). */
export async function aws(operation, params = {}) {
  const response = await request("/", {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": `AmazonPersonalize.${operation}`,
    },
    body: JSON.stringify(params),
  });
  return response.json();
}

/** Every page of a List operation, concatenated. */
export async function awsAll(operation, params, member) {
  const items = [];
  let nextToken;
  do {
    const page = await aws(operation, { ...params, maxResults: 100, ...(nextToken ? { nextToken } : {}) });
    items.push(...(page[member] || []));
    nextToken = page.nextToken;
  } while (nextToken);
  return items;
}

/** The URL of a read-API resource (`/api/v1/...`), for links such as report downloads. */
export function readUrl(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return `/api/v1/${path}${text ? `?${text}` : ""}`;
}

/** A JSON document from recimpact's read API. */
export async function read(path, query = {}) {
  const response = await request(readUrl(path, query));
  return response.json();
}
