// A frontend-style program on the typed client a team generates from the contract the mock serves:
// `openapi-typescript <mock>/openapi.json -o schema.d.ts` and openapi-fetch, compiled with `tsc --strict`.
// The answers are used as their generated types say, with no `!` and no `as`: if the contract made a carrier
// `T | null` where the vendor never answers null, this file would not compile.
//
// usage: node out/main.js BASE_URL USER PASSWORD   (prints one JSON line with what it saw)
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type EMailEntity = components["schemas"]["EMailEntity"];
type WebApiError = components["schemas"]["WebApiError"];
type GwsError = components["schemas"]["GwsError"];

const [base, user, password] = process.argv.slice(2);
const basic = "Basic " + btoa(`${user}:${password}`);
const superoffice = createClient<paths>({ baseUrl: base, headers: { Authorization: basic } });
const result: Record<string, unknown> = {};

function summary(mail: EMailEntity): Record<string, unknown> {
    // A property the vendor may null (`$select`, a mail without one) is `T | null | undefined`; the carrier is not.
    return {
        messageId: mail.MessageID,
        subject: mail.Subject,
        to: mail.To === null || mail.To === undefined ? null : mail.To.map((address) => address.Address),
        sent: mail.Sent,
        priority: mail.Priority,
    };
}

function errorText(error: WebApiError | components["schemas"]["SoError"]): { message: string; detail: string | null } {
    // The 400 is WebApiError, a 403 SoError: the generated union says which fields each has.
    return "Message" in error
        ? { message: error.Message, detail: error.MessageDetail ?? null }
        : { message: error.ErrorMessage, detail: error.ErrorType };
}

// SendEMails: the answer is EMailEntity[], one per mail, in request order.
const sent = await superoffice.POST("/api/v1/Agents/EMail/SendEMails", {
    body: {
        Emails: [
            {
                Subject: "Møte i morgen – agenda",
                To: [{ Address: "kari.odegard@fjordtech.example", Name: "Kari Ødegård" }],
                PlainBody: "Hei Kari, her er agendaen.",
            },
        ],
    },
});
if (sent.data) {
    const first: EMailEntity = sent.data[0];
    result.send = { status: sent.response.status, count: sent.data.length, first: summary(first) };
}

// `$select` nulls every property it does not name (the carrier stays).
const selected = await superoffice.POST("/api/v1/Agents/EMail/SendEMails", {
    params: { query: { $select: "Subject,MessageID" } },
    body: { Emails: [{ Subject: "Bare emnet", To: [{ Address: "lars@fjordtech.example" }] }] },
});
if (selected.data) {
    result.select = { status: selected.response.status, first: summary(selected.data[0]) };
}

// A typed 400: an SO-TimeZone the vendor does not know.
const refused = await superoffice.POST("/api/v1/Agents/EMail/SendEMails", {
    params: { header: { "SO-TimeZone": "Mars/Olympus" } },
    body: { Emails: [{ Subject: "x", To: [{ Address: "lars@fjordtech.example" }] }] },
});
if (refused.error) {
    const error: WebApiError | components["schemas"]["SoError"] = refused.error;
    result.badRequest = { status: refused.response.status, ...errorText(error) };
}

// SaveToMailServer: the saved mail, or null when there was nothing to save (the one answer that may be null).
const saved = await superoffice.POST("/api/v1/Agents/EMail/SaveToMailServer", {
    body: { Email: { Subject: "Utkast", To: [{ Address: "kari.odegard@fjordtech.example" }] } },
});
if (saved.response.ok) {
    const mail: EMailEntity | null = saved.data ?? null;
    result.save = { status: saved.response.status, mail: mail === null ? null : summary(mail) };
}
const nothing = await superoffice.POST("/api/v1/Agents/EMail/SaveToMailServer", { body: {} });
result.saveNothing = { status: nothing.response.status, isNull: nothing.data === null };

// RelayMessage: a whole RFC 822 message to the given recipients.
const relayed = await superoffice.POST("/api/v1/Agents/EMail/RelayMessage", {
    body: {
        Rfc822: "From: anna@nordlys.example\r\nTo: lars@fjordtech.example\r\nSubject: Videresendt\r\n\r\nHei Lars.\r\n",
        Recipients: ["lars@fjordtech.example"],
    },
});
result.relay = { status: relayed.response.status, ok: relayed.response.ok };

// XML through the same client: the typed body, written as the vendor's DataContract XML by a serializer.
const xml = await superoffice.POST("/api/v1/Agents/EMail/SendEMails", {
    body: { Emails: [{ Subject: "XML", To: [{ Address: "lars@fjordtech.example" }] }] },
    bodySerializer: (body) =>
        "<SendEMailsRequest><Emails>" +
        (body.Emails ?? [])
            .map(
                (mail) =>
                    "<EMailEntity><To>" +
                    (mail.To ?? []).map((to) => `<EMailAddress><Address>${to.Address ?? ""}</Address></EMailAddress>`).join("") +
                    `</To><Subject>${mail.Subject ?? ""}</Subject></EMailEntity>`,
            )
            .join("") +
        "</Emails></SendEMailsRequest>",
    headers: { "Content-Type": "application/xml", Accept: "application/xml" },
    parseAs: "text",
});
result.xml = { status: xml.response.status, contentType: xml.response.headers.get("content-type"), text: xml.data ?? "" };

// Genesys: GET /api/v2/me opens the session (JSESSIONID) and hands out the CSRF token; Send carries both.
const gws = createClient<paths>({ baseUrl: base });
const me = await gws.GET("/api/v2/me", { headers: { Authorization: basic } });
const cookie = (me.response.headers.getSetCookie()[0] ?? "").split(";")[0];
const csrf = me.response.headers.get("X-CSRF-TOKEN") ?? "";
result.me = { status: me.response.status, cookie: cookie.split("=")[0], csrf: csrf.length > 0 };
const session = { Cookie: cookie };
const gwsSend = await gws.POST("/api/v2/me/emails/{id}", {
    params: { path: { id: "0071023821aec011" }, header: { "X-CSRF-TOKEN": csrf } },
    headers: session,
    body: {
        operationName: "Send",
        queueName: "Forwarde-mails",
        email: { to: ["qwerty@gplus-w2k3-gf80"], from: "htcc@gplus-w2k3-gf80", subject: "Hei", body: "Hei." },
    },
});
if (gwsSend.data) {
    result.gwsSend = { status: gwsSend.response.status, statusCode: gwsSend.data.statusCode, referenceId: gwsSend.data.referenceId };
}
const gwsRefused = await gws.POST("/api/v2/me/emails/{id}", {
    params: { path: { id: "0071023821aec011" }, header: { "X-CSRF-TOKEN": csrf } },
    headers: session,
    body: { operationName: "Send", queueName: "Forwarde-mails", email: { to: [], from: "htcc@gplus-w2k3-gf80" } },
});
if (gwsRefused.error) {
    const error: GwsError = gwsRefused.error;
    result.gwsBadRequest = { status: gwsRefused.response.status, statusCode: error.statusCode, message: error.statusMessage };
}

process.stdout.write(JSON.stringify(result) + "\n");
