// The data API (protocol guide 13.7) as the host screen's library and editor call it:
// every request carries the admin token as a bearer header.  The token is not kept
// here: `token()` asks host.js for it each time, so it stays in that one variable
// (never in storage, the URL, a cookie or the page).

/** A refused request: HTTP status, the error's code and message, and its details
 * (`details.problems` of a 422 `invalid_definition`). */
export class ApiError extends Error {
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export class DataApi {
  /** `token` is a function returning the admin token. */
  constructor(token) {
    this.token = token;
  }

  /** Send a request; resolves with the Response when it succeeded, else throws ApiError. */
  async send(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "network", "Cannot reach the server.");
    }
    if (response.ok) return response;
    const data = await response.json().catch(() => null);
    const error = data && data.error ? data.error : {};
    if (response.status === 401) throw new ApiError(401, "unauthorized", "Wrong admin token.");
    throw new ApiError(response.status, error.code || "http", `${error.message || response.statusText} (HTTP ${response.status})`,
      error.details || null);
  }

  /** A JSON request: the parsed body (null for a 204). */
  async json(method, path, body) {
    const response = await this.send(method, path, body);
    return response.status === 204 ? null : response.json();
  }

  /** A GET whose body is saved as a file named `filename`.  A plain link cannot carry
   * the bearer header, so the body is fetched and handed to the browser as a Blob URL. */
  async download(path, filename) {
    const blob = await (await this.send("GET", path)).blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
}
