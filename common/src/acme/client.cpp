// ACME client driver (see client.hpp): HTTP through desec::transport, JSON through acme/parse.
#include "splitmail/acme/client.hpp"

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "splitmail/acme/parse.hpp"
#include "splitmail/durable/file.hpp"

namespace splitmail::acme {

namespace {

// RFC 8555 6.5: the client SHOULD retry badNonce. Each retry is one more request with a new
// nonce; 6 keeps a CA that rejects many of its nonces (Pebble in tests) from failing us.
constexpr int max_bad_nonce_retries = 6;

error transport_error(std::string_view what, const desec::error& e) {
    error out;
    out.kind = e.kind == desec::error_kind::tls ? error_kind::tls : error_kind::network;
    out.message = std::string(what) + ": " + e.message;
    return out;
}

std::unexpected<error> protocol_error(std::string_view what, std::string_view why) {
    return fail(error_kind::protocol, std::string(what) + ": " + std::string(why));
}

} // namespace

client::client(client_options options, ec_key account_key)
    : client(options, std::move(account_key),
             std::shared_ptr<desec::transport>(desec::make_curl_transport(desec::curl_options{
                 options.ca_file, options.http_timeout, "splitmail-acme", 4 * 1024 * 1024}))) {}

client::client(client_options options, ec_key account_key,
               std::shared_ptr<desec::transport> transport)
    : options_(std::move(options)), key_(std::move(account_key)), transport_(std::move(transport)) {
    if (!options_.sleep)
        options_.sleep = [](std::chrono::seconds s) { std::this_thread::sleep_for(s); };
}

void client::note(std::string_view line) const {
    if (options_.log) options_.log(line);
}

void client::wait(std::optional<std::chrono::seconds> retry_after) const {
    auto s = retry_after.value_or(options_.poll_interval);
    s = std::clamp(s, options_.poll_interval,
                   std::max(options_.poll_interval, options_.max_poll_wait));
    options_.sleep(s);
}

result<client::answer> client::get(const std::string& url) {
    desec::http_request req;
    req.url = url;
    ++requests_;
    auto r = transport_->perform(req);
    if (!r) return std::unexpected(transport_error("GET " + url, r.error()));
    answer a;
    a.status = r->status;
    a.body = std::move(r->body);
    a.location = std::string(r->header("location"));
    a.retry_after = parse_retry_after(r->header("retry-after"), std::chrono::system_clock::now());
    if (auto n = r->header("replay-nonce"); !n.empty()) nonce_ = std::string(n);
    return a;
}

result<directory> client::load_directory() {
    if (directory_) return *directory_;
    auto a = get(options_.directory_url);
    if (!a) return std::unexpected(a.error());
    if (a->status != 200)
        return std::unexpected(error_from_response("directory " + options_.directory_url, a->status,
                                                   a->body, a->retry_after));
    auto d = parse_directory(a->body);
    if (!d) return protocol_error("directory " + options_.directory_url, d.error());
    if (d->external_account_required)
        return fail(error_kind::server, "the CA requires external account binding, which "
                                        "splitmail does not support; use another directory URL");
    directory_ = *d;
    return *d;
}

result<std::string> client::fresh_nonce() {
    // RFC 8555 7.2: GET (or HEAD) newNonce; the nonce is in Replay-Nonce.
    auto d = load_directory();
    if (!d) return std::unexpected(d.error());
    nonce_.clear();
    auto a = get(d->new_nonce);
    if (!a) return std::unexpected(a.error());
    if (nonce_.empty())
        return protocol_error("newNonce", "answer (HTTP " + std::to_string(a->status) +
                                              ") has no Replay-Nonce header");
    return std::exchange(nonce_, std::string());
}

result<client::answer> client::post(std::string_view what, const std::string& url,
                                    std::string_view payload, std::string_view accept) {
    for (int attempt = 0;; ++attempt) {
        std::string nonce = std::exchange(nonce_, std::string());
        if (nonce.empty()) {
            auto n = fresh_nonce();
            if (!n) return std::unexpected(n.error());
            nonce = std::move(*n);
        }
        auto body = sign_jws(key_, jws_header{url, nonce, account_url_}, payload);
        if (!body) return std::unexpected(body.error());
        desec::http_request req;
        req.method = "POST";
        req.url = url;
        req.body = std::move(*body);
        req.headers.emplace_back("Content-Type", "application/jose+json");
        if (!accept.empty()) req.headers.emplace_back("Accept", std::string(accept));
        ++requests_;
        auto r = transport_->perform(req);
        if (!r) return std::unexpected(transport_error(std::string(what) + " " + url, r.error()));
        if (auto n = r->header("replay-nonce"); !n.empty()) nonce_ = std::string(n);
        answer a;
        a.status = r->status;
        a.body = std::move(r->body);
        a.location = std::string(r->header("location"));
        a.retry_after =
            parse_retry_after(r->header("retry-after"), std::chrono::system_clock::now());
        if (a.status < 400) return a;
        auto e = error_from_response(what, a.status, a.body, a.retry_after);
        if (e.detail && e.detail->short_type() == "badNonce" && attempt < max_bad_nonce_retries) {
            ++bad_nonce_retries_;
            note("badNonce from the CA; retrying with a fresh nonce");
            continue; // nonce_ holds the one the error carried (or is empty: fetch one)
        }
        return std::unexpected(std::move(e));
    }
}

result<std::string> client::ensure_account() {
    if (!account_url_.empty()) return account_url_;
    auto d = load_directory();
    if (!d) return std::unexpected(d.error());
    nlohmann::json payload;
    payload["termsOfServiceAgreed"] = options_.agree_to_terms;
    if (!options_.contact.empty()) payload["contact"] = options_.contact;
    auto a = post("newAccount", d->new_account, payload.dump());
    if (!a) return std::unexpected(a.error());
    if (a->location.empty())
        return protocol_error("newAccount", "answer has no Location (account URL)");
    auto st = parse_account_status(a->body);
    if (!st) return protocol_error("newAccount", st.error());
    if (*st != status::valid)
        return fail(error_kind::server, "the account " + a->location + " is " +
                                            std::string(to_string(*st)) +
                                            "; use a new account key file");
    created_ = a->status == 201; // RFC 8555 7.3: 201 new, 200 existing (7.3.1)
    account_url_ = a->location;
    note(created_ ? "account created: " + account_url_ : "account found: " + account_url_);
    return account_url_;
}

result<authorization> client::poll_authorization(const std::string& url) {
    std::chrono::seconds waited{0};
    for (;;) {
        auto a = post("authorization", url, "");
        if (!a) return std::unexpected(a.error());
        auto authz = parse_authorization(a->body);
        if (!authz) return protocol_error("authorization " + url, authz.error());
        if (authz->state != status::pending && authz->state != status::processing) return *authz;
        if (waited >= options_.poll_timeout)
            return fail(error_kind::timeout, "authorization for " + authz->id.value + " still " +
                                                 std::string(to_string(authz->state)) + " after " +
                                                 std::to_string(waited.count()) + "s");
        wait(a->retry_after);
        waited +=
            std::clamp(a->retry_after.value_or(options_.poll_interval), options_.poll_interval,
                       std::max(options_.poll_interval, options_.max_poll_wait));
    }
}

result<order> client::poll_order(const std::string& url, status until) {
    std::chrono::seconds waited{0};
    for (;;) {
        auto a = post("order", url, "");
        if (!a) return std::unexpected(a.error());
        auto o = parse_order(a->body);
        if (!o) return protocol_error("order " + url, o.error());
        if (o->state == until || o->state == status::invalid || o->state == status::valid)
            return *o;
        if (waited >= options_.poll_timeout)
            return fail(error_kind::timeout, "order " + url + " still " +
                                                 std::string(to_string(o->state)) + " after " +
                                                 std::to_string(waited.count()) + "s");
        wait(a->retry_after);
        waited +=
            std::clamp(a->retry_after.value_or(options_.poll_interval), options_.poll_interval,
                       std::max(options_.poll_interval, options_.max_poll_wait));
    }
}

namespace {

error invalid_error(std::string what, const std::optional<problem>& p) {
    error e;
    e.kind = error_kind::validation;
    e.message = std::move(what) + (p ? ": " + p->describe() : std::string());
    e.detail = p;
    if (p && p->short_type() == "rateLimited") e.kind = error_kind::rate_limited;
    return e;
}

} // namespace

result<std::optional<renewal_info>> client::renewal_information(std::string_view cert_id) {
    auto d = load_directory();
    if (!d) return std::unexpected(d.error());
    if (d->renewal_info.empty()) return std::optional<renewal_info>{};
    std::string url = d->renewal_info;
    if (!url.empty() && url.back() != '/') url += '/';
    url += cert_id;
    auto a = get(url);
    if (!a) return std::unexpected(a.error());
    if (a->status != 200)
        return std::unexpected(
            error_from_response("renewalInfo", a->status, a->body, a->retry_after));
    auto info = parse_renewal_info(a->body);
    if (!info) return protocol_error("renewalInfo", info.error());
    if (!info->explanation_url.empty())
        note("the CA explains its renewal window at " + info->explanation_url);
    return std::optional<renewal_info>{std::move(*info)};
}

result<issued_certificate> client::obtain(std::span<const std::string> names, const cert_key& key,
                                          challenge_solver& solver, std::string_view replaces) {
    if (names.empty()) return fail(error_kind::local, "no names to certify");
    for (const auto& n : names)
        if (!valid_dns_name(n)) return fail(error_kind::local, "\"" + n + "\" is not a DNS name");
    auto account = ensure_account();
    if (!account) return std::unexpected(account.error());

    // RFC 8555 7.4: newOrder.
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& n : names) ids.push_back({{"type", "dns"}, {"value", n}});
    nlohmann::json request{{"identifiers", ids}};
    if (!replaces.empty() && !directory_->renewal_info.empty())
        request["replaces"] = std::string(replaces);
    auto created = post("newOrder", directory_->new_order, request.dump());
    if (!created && request.contains("replaces") && created.error().detail &&
        created.error().detail->short_type() == "alreadyReplaced") {
        // RFC 9773 5: another order already replaces that certificate: order without it.
        note("the CA says the certificate was already replaced; ordering without \"replaces\"");
        request.erase("replaces");
        created = post("newOrder", directory_->new_order, request.dump());
    }
    if (!created) return std::unexpected(created.error());
    if (created->location.empty()) return protocol_error("newOrder", "answer has no Location");
    std::string order_url = created->location;
    auto ord = parse_order(created->body);
    if (!ord) return protocol_error("newOrder", ord.error());
    note("order created: " + order_url);
    if (ord->authorizations.size() > names.size())
        return protocol_error("newOrder", "more authorizations than names");

    // RFC 8555 7.5: one authorization per identifier; valid ones (reused) need nothing.
    std::vector<challenge_task> tasks;
    std::vector<std::string> task_authz, task_challenge;
    const std::string thumb = key_.thumbprint();
    for (const auto& url : ord->authorizations) {
        auto a = post("authorization", url, "");
        if (!a) return std::unexpected(a.error());
        auto authz = parse_authorization(a->body);
        if (!authz) return protocol_error("authorization " + url, authz.error());
        if (authz->state == status::valid) {
            note("authorization for " + authz->id.value + " is valid already (reused)");
            continue;
        }
        if (authz->state != status::pending)
            return std::unexpected(invalid_error("authorization for " + authz->id.value + " is " +
                                                     std::string(to_string(authz->state)),
                                                 std::nullopt));
        auto ch = std::find_if(authz->challenges.begin(), authz->challenges.end(),
                               [&](const challenge& c) { return c.type == solver.type(); });
        if (ch == authz->challenges.end()) {
            std::string offered;
            for (const auto& c : authz->challenges)
                offered += (offered.empty() ? "" : ", ") + c.type;
            return fail(error_kind::validation,
                        "the CA offers no " + solver.type() + " challenge for " + authz->id.value +
                            (authz->wildcard ? " (wildcards need dns-01)" : "") +
                            "; offered: " + (offered.empty() ? "none" : offered));
        }
        if (!valid_token(ch->token))
            return protocol_error("challenge " + ch->url, "token is not base64url");
        challenge_task t;
        t.domain = authz->id.value;
        t.wildcard = authz->wildcard;
        t.type = ch->type;
        t.token = ch->token;
        t.key_authorization = key_authorization(ch->token, thumb);
        t.txt_value = dns01_txt_value(t.key_authorization);
        tasks.push_back(std::move(t));
        task_authz.push_back(url);
        task_challenge.push_back(ch->url);
    }

    if (!tasks.empty()) {
        if (auto p = solver.present(tasks); !p) {
            solver.cleanup(tasks);
            error e = p.error();
            e.kind = error_kind::solver;
            return std::unexpected(std::move(e));
        }
        std::optional<error> failure;
        for (std::size_t i = 0; i < tasks.size() && !failure; ++i) {
            // RFC 8555 7.5.1: POST {} to the challenge URL says "ready, validate".
            auto r = post("challenge", task_challenge[i], "{}");
            if (!r) failure = r.error();
        }
        for (std::size_t i = 0; i < tasks.size() && !failure; ++i) {
            auto authz = poll_authorization(task_authz[i]);
            if (!authz) {
                failure = authz.error();
            } else if (authz->state != status::valid) {
                std::optional<problem> why;
                for (const auto& c : authz->challenges)
                    if (c.error) why = c.error;
                failure =
                    invalid_error(tasks[i].type + " validation of " + tasks[i].domain +
                                      " failed (" + std::string(to_string(authz->state)) + ")",
                                  why);
            } else {
                note("authorization for " + tasks[i].domain + " is valid");
            }
        }
        solver.cleanup(tasks);
        if (failure) return std::unexpected(std::move(*failure));
    }

    auto ready = poll_order(order_url, status::ready);
    if (!ready) return std::unexpected(ready.error());
    if (ready->state == status::invalid)
        return std::unexpected(
            invalid_error("order " + order_url + " became invalid", ready->error));

    order done = *ready;
    if (ready->state == status::ready) {
        auto csr = make_csr_der(key, names);
        if (!csr) return std::unexpected(csr.error());
        // RFC 8555 7.4: finalize with the CSR (base64url DER).
        auto f = post("finalize", ready->finalize, nlohmann::json{{"csr", base64url(*csr)}}.dump());
        if (!f) return std::unexpected(f.error());
        auto fin = poll_order(order_url, status::valid);
        if (!fin) return std::unexpected(fin.error());
        done = *fin;
    }
    if (done.state != status::valid || done.certificate.empty())
        return std::unexpected(invalid_error("order " + order_url + " ended " +
                                                 std::string(to_string(done.state)) +
                                                 " without a certificate",
                                             done.error));
    // RFC 8555 7.4.2: download with POST-as-GET.
    auto cert = post("certificate", done.certificate, "", "application/pem-certificate-chain");
    if (!cert) return std::unexpected(cert.error());
    if (count_certificates(cert->body) == 0)
        return protocol_error("certificate " + done.certificate, "answer holds no PEM certificate");
    if (!leaf_matches_key(cert->body, key))
        return protocol_error("certificate " + done.certificate,
                              "the certificate is not for our certificate key");
    note("certificate downloaded: " + done.certificate);
    return issued_certificate{std::move(cert->body), order_url};
}

result<ec_key> load_or_create_key(const std::filesystem::path& path, bool* created) {
    if (created) *created = false;
    durable::read_options ro;
    ro.max_size = 64 * 1024;
    ro.no_follow = true;
    auto existing = durable::read_file_if_exists(path, ro);
    if (!existing) return fail(error_kind::local, existing.error().text());
    if (*existing) {
        auto k = ec_key::from_pem(**existing);
        if (!k)
            return fail(error_kind::local, path.string() + ": " + k.error().message +
                                               " (remove or move the file to start over)");
        return k;
    }
    auto k = ec_key::generate();
    if (!k) return k;
    auto pem = k->private_pem();
    if (pem.empty()) return fail(error_kind::local, "cannot encode the new key");
    durable::replace_options wo;
    wo.mode = 0600; // the account key is a secret
    if (auto w = durable::replace_file(path, pem, wo); !w)
        return fail(error_kind::local, w.error().text());
    if (created) *created = true;
    return k;
}

} // namespace splitmail::acme
