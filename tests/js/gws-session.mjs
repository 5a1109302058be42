// A Workspace-Web-Edition-like GWS client on Node, with the official CometD JavaScript client:
// login (GET /api/v2/me: JSESSIONID + CSRF token), StartContactCenterSession, CometD handshake,
// subscribe to /v2/me/emails, Send over HTTP, then wait for the notification carrying the Send's
// referenceId. Prints one JSON line with what it saw; exits 0 when the notification arrived, 3 when the
// handshake failed. Mode `no-csrf` leaves the CSRF token off the CometD requests (a client bug a real GWS
// answers with 403), so the handshake fails.
//
// usage: node gws-session.mjs BASE_URL USER PASSWORD [success|error|no-csrf] [TIMEOUT_MS]
import { adapt } from "cometd-nodejs-client";
import { CometD } from "cometd";

adapt();

const [base, user, password, mode = "success", timeoutText = "20000"] = process.argv.slice(2);
const basic = "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
const result = { steps: [] };
const finish = (code) => {
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(code);
};
const timer = setTimeout(() => {
    result.error = "timed out";
    finish(2);
}, Number(timeoutText));

const login = await fetch(`${base}/api/v2/me`, { headers: { Authorization: basic } });
const cookie = (login.headers.get("set-cookie") || "").split(";")[0];
const csrfHeader = login.headers.get("x-csrf-header");
const csrfToken = login.headers.get("x-csrf-token");
result.steps.push({ step: "login", status: login.status, cookie: cookie.split("=")[0], csrfHeader });
const session = { Cookie: cookie, [csrfHeader]: csrfToken, "Content-Type": "application/json" };

const start = await fetch(`${base}/api/v2/me`, {
    method: "POST",
    headers: session,
    body: JSON.stringify({ operationName: "StartContactCenterSession", channels: ["email"] }),
});
result.steps.push({ step: "StartContactCenterSession", status: start.status, body: await start.json() });

const cometd = new CometD();
cometd.unregisterTransport("websocket");
// The session cookie authenticates the CometD requests, as in a browser; being POSTs, they carry the CSRF token.
const cometdHeaders = mode === "no-csrf" ? { Cookie: cookie } : { Cookie: cookie, [csrfHeader]: csrfToken };
cometd.configure({ url: `${base}/api/v2/notifications`, requestHeaders: cometdHeaders, logLevel: "warn" });

let referenceId = null;
const early = [];
const onNotification = (message) => {
    const data = message.data;
    if (referenceId === null) {
        early.push(data);  // the HTTP answer may arrive after the notification
        return;
    }
    if (data.referenceId === referenceId) {
        result.notification = message;
        clearTimeout(timer);
        cometd.disconnect(() => finish(0));
    }
};

cometd.handshake((handshake) => {
    const httpCode = handshake.failure ? handshake.failure.httpCode : undefined;
    result.steps.push({ step: "handshake", successful: handshake.successful, error: handshake.error, httpCode });
    if (!handshake.successful) {
        clearTimeout(timer);
        finish(3);
        return;
    }
    cometd.subscribe("/v2/me/emails", onNotification, async (subscribed) => {
        result.steps.push({ step: "subscribe", successful: subscribed.successful });
        const headers = { ...session };
        if (mode === "error") {
            headers.Prefer = "notification=error";
        }
        const sent = await fetch(`${base}/api/v2/me/emails/0071023821aec011`, {
            method: "POST",
            headers,
            body: JSON.stringify({
                operationName: "Send",
                queueName: "Forwarde-mails",
                email: {
                    body: "Feelslikegood.",
                    to: ["qwerty@gplus-w2k3-gf80", "bruce.one@witcher.xyz"],
                    from: "htcc@gplus-w2k3-gf80",
                    subject: "HelloEmail",
                },
            }),
        });
        const answer = await sent.json();
        result.steps.push({ step: "send", status: sent.status, body: answer });
        referenceId = answer.referenceId;
        early.splice(0).forEach((data) => onNotification({ channel: "/v2/me/emails", data }));
    });
});
