// Join links and their QR codes (issue 17), for the board's Invite dialog and the set-up
// page's printable sheet. A link is `<origin>/join?code=…`; the origin is the address
// learners reach this server at (`GET /api/v1/join-origin`: TANDEM_PUBLIC_URL, which
// `tandem serve --lan` sets, else this page's own), asked once per page. The QR images are
// SVG the server makes (`/join/qr.svg?code=…`, server/http/join_links.py owns the link's form).

let origin = null;

/** The origin join links use (falls back to this page's when the server cannot be asked). */
export async function joinOrigin(api) {
  if (origin) return origin;
  try {
    origin = (await api.request("GET", "/api/v1/join-origin", undefined, { auth: false })).origin;
  } catch {
    return location.origin;
  }
  return origin;
}

export function joinLink(base, code) {
  return `${base}/join?code=${encodeURIComponent(code)}`;
}

export function qrSource(code) {
  return `/join/qr.svg?code=${encodeURIComponent(code)}`;
}

/** Fill `img` (an <img>) with the QR code of `code`'s link; resolves once it is drawn, so a
 * page can print only when every code is there. */
export function showQr(img, code) {
  const source = qrSource(code);
  if (img.getAttribute("src") !== source) img.src = source;
  return img.decode().catch(() => {});
}
