// CAPABILITY, NOOP/CHECK, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN (SASL-IR), ID, ENABLE,
// NAMESPACE (RFC 3501 6.1-6.2, RFC 4959, RFC 4616, RFC 2971, RFC 5161, RFC 2342).
#include "imap/session.hpp"
#include "splitmail/sasl/plain.hpp"

#include "splitmail/smtp/base64.hpp"

#include <algorithm>

namespace splitmail::home::imap {

void session::cmd_capability(const command& c, std::string& out) {
    out += "* CAPABILITY " + capability() + "\r\n" + ok(c, "CAPABILITY completed");
}

void commands::noop(handler_context& ctx, const command& c) {
    ctx.out += ok(c, c.name + " completed");
}

void session::cmd_logout(const command& c, std::string& out) {
    out += "* BYE Logging out\r\n" + ok(c, "LOGOUT completed");
    state_ = state::logout;
    sel_.reset();
    pending_close_ = true;
}

void session::cmd_starttls(const command& c, std::string& out) {
    if (!cfg_.starttls_offered || cfg_.tls_active) {
        out += bad(c, "STARTTLS not available");
        return;
    }
    out += ok(c, "Begin TLS negotiation now");
    pending_tls_ = true;
}

void session::login_ok(const std::string& tag, const std::string& user, std::string& out) {
    if (hooks_.claim_user && !hooks_.claim_user(user)) {
        // RFC 5530 3: [LIMIT], the user has as many sessions as allowed already.
        out += tag + " NO [LIMIT] Too many IMAP connections for this user; close another "
                     "client or raise imap.max_connections_per_user\r\n";
        return;
    }
    user_ = user;
    state_ = state::authenticated;
    store_ = std::make_unique<mailbox_store>(hooks_.maildir_of(user), cfg_.hostname, cfg_.folders);
    store_->ensure_special_use();
    out += tag + " OK [CAPABILITY " + capability() + "] Logged in\r\n";
}

void session::login_failed(const std::string& tag, std::string& out) {
    ++auth_failures_;
    pending_delay_ = true; // the driver waits before this reply goes out
    out += tag + " NO [AUTHENTICATIONFAILED] Authentication failed\r\n";
    if (auth_failures_ >= cfg_.max_auth_failures) {
        out += "* BYE Too many authentication failures\r\n";
        pending_close_ = true;
    }
}

void session::cmd_login(const command& c, std::string& out) {
    if (!auth_allowed()) {
        out += no(c, "[PRIVACYREQUIRED] LOGIN is disabled before STARTTLS");
        return;
    }
    if (c.args.size() != 2 || !c.args[0].is_astring() || !c.args[1].is_astring()) {
        out += bad(c, "LOGIN needs a user name and a password");
        return;
    }
    if (cfg_.defer_auth) return begin_deferred_auth(c.tag, "", c.args[0].text, c.args[1].text);
    auto user =
        hooks_.authenticate ? hooks_.authenticate(c.args[0].text, c.args[1].text) : std::nullopt;
    if (!user) return login_failed(c.tag, out);
    login_ok(c.tag, *user, out);
}

void session::begin_deferred_auth(std::string tag, std::string authz, std::string authc,
                                  std::string password) {
    auth_tag_ = std::move(tag);
    auth_authz_ = std::move(authz);
    auth_authc_ = authc;
    pending_auth_.emplace(std::move(authc), std::move(password));
    authenticating_ = true; // nothing else is read until auth_result()
}

void session::auth_result(const std::optional<std::string>& user) {
    if (!authenticating_) return;
    authenticating_ = false;
    pending_auth_.reset();
    std::string tag = std::move(auth_tag_);
    // RFC 4616 2: an authorization identity other than the user's own is not allowed.
    bool authz_ok = sasl::authzid_acceptable(auth_authz_, auth_authc_, user ? *user : "");
    if (!user || !authz_ok)
        login_failed(tag, deferred_out_);
    else
        login_ok(tag, *user, deferred_out_);
    auth_authz_.clear();
    auth_authc_.clear();
}

void session::cmd_authenticate(const command& c, std::string& out) {
    if (c.args.empty() || !c.args[0].is_astring()) {
        out += bad(c, "AUTHENTICATE needs a mechanism");
        return;
    }
    if (!iequals(c.args[0].text, "PLAIN")) {
        out += no(c, "Unsupported authentication mechanism");
        return;
    }
    if (!auth_allowed()) {
        out += no(c, "[PRIVACYREQUIRED] Authentication is disabled before STARTTLS");
        return;
    }
    if (c.args.size() > 2) {
        out += bad(c, "Too many arguments");
        return;
    }
    sasl_tag_ = c.tag;
    if (c.args.size() == 2) { // RFC 4959 3: initial response, "=" for an empty one
        finish_auth_line(c.args[1].text == "=" ? "" : c.args[1].text, out);
        return;
    }
    reader_.set_line_mode(true);
    out += "+ \r\n";
}

void session::finish_auth_line(std::string_view line, std::string& out) {
    std::string tag = std::move(sasl_tag_);
    sasl_tag_.clear();
    reader_.set_line_mode(false);
    if (line == "*") { // RFC 3501 6.2.2: the client cancels
        out += tag + " BAD Authentication cancelled\r\n";
        return;
    }
    // RFC 4616 2: [authzid] NUL authcid NUL passwd (common/sasl: one decoder for every login
    // path, decoded buffers wiped).
    auto cred = sasl::decode_plain(line);
    if (!cred) {
        if (cred.error() == sasl::error::bad_base64) {
            out += tag + " BAD Invalid base64\r\n";
        } else if (cred.error() == sasl::error::malformed) {
            out += tag + " BAD Malformed PLAIN response\r\n";
        } else {
            return login_failed(tag, out); // over the length caps: a failed login, braked
        }
        return;
    }
    std::string authz = std::move(cred->authzid);
    std::string authc = std::move(cred->authcid);
    if (cfg_.defer_auth)
        return begin_deferred_auth(std::move(tag), std::move(authz), std::move(authc),
                                   std::string(cred->password.view()));
    auto user =
        hooks_.authenticate ? hooks_.authenticate(authc, cred->password.str()) : std::nullopt;
    if (!user || !sasl::authzid_acceptable(authz, authc, *user)) return login_failed(tag, out);
    login_ok(tag, *user, out);
}

void commands::id(handler_context& ctx, const command& c) {
    ctx.out += "* ID (\"name\" \"splitmail\" \"vendor\" \"splitmail\")\r\n" + ok(c, "ID completed");
}

void session::cmd_enable(const command& c, std::string& out) {
    // RFC 5161 3.1: names we do not know, or that need no enabling, are ignored; the
    // ENABLED response lists what this command newly enabled.
    if (c.args.empty()) {
        out += bad(c, "ENABLE needs at least one capability");
        return;
    }
    std::string enabled;
    for (const auto& a : c.args) {
        if (!a.is_atom()) {
            out += bad(c, "ENABLE takes capability names");
            return;
        }
        std::string name = upper(a.text);
        bool now = false;
        if (name == "IMAP4REV2") {
            now = !ext_.rev2;
            ext_.rev2 = true;
            if (sel_) sel_->recent.clear(); // RFC 9051: no \Recent from now on
        } else {
            now = ext_.enable_store_extension(name); // CONDSTORE, QRESYNC (commands/condstore.cpp)
        }
        if (now && enabled.find(" " + name) == std::string::npos)
            enabled += " " + (name == "IMAP4REV2" ? std::string("IMAP4rev2") : name);
    }
    out += "* ENABLED" + enabled + "\r\n" + ok(c, "ENABLE completed");
}

void commands::namespaces(handler_context& ctx, const command& c) {
    ctx.out += "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n" + ok(c, "NAMESPACE completed");
}

} // namespace splitmail::home::imap
