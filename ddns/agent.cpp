#include "agent.hpp"

#include <algorithm>

#include "exit_codes.hpp"
#include "splitmail/log/log.hpp"

namespace splitmail::ddns {

using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view component = "ddns";
// deSEC's checkip service allows 3 requests per minute.
constexpr auto checkip_min_spacing = 20s;

std::string join(const std::vector<std::string>& v) {
    if (v.empty()) return "(none)";
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ",";
        out += s;
    }
    return out;
}

// deSEC may return records in any textual form; compare them as addresses.
bool same_addresses(const std::vector<std::string>& records, const ip_address& want) {
    if (records.size() != 1) return false;
    auto a = parse_ip(records.front());
    return a && *a == want;
}

cycle_result make(cycle_result::status st, milliseconds next, std::string message = {}) {
    cycle_result r;
    r.st = st;
    r.next = next;
    r.message = std::move(message);
    return r;
}

} // namespace

agent::agent(const settings& s, desec::client& api, ip_detector& detector, state& st,
             persist_fn persist, random_fn random, bool dry_run)
    : s_(s), api_(api), detector_(detector), state_(st), persist_(std::move(persist)),
      random_(std::move(random)), dry_run_(dry_run), writes_(desec_write_limits()),
      reads_(desec_read_limits()),
      damper_(damping_params{3.5, 2.0, s.damping_half_life, 4 * s.damping_half_life}) {
    if (state_.domain != s_.domain) {
        // Another domain: its history says nothing about this one.
        state_ = state{};
        state_.domain = s_.domain;
    }
    writes_.restore(state_.writes);
    damper_.restore(state_.damping);
}

void agent::note(const std::string& topic, const std::string& message, bool warn,
                 const std::string& key) {
    // Conditions that persist over many cycles are logged when they start or change; `key`
    // (when given) identifies the condition instead of the text, whose numbers change.
    auto& last = notes_[topic];
    const std::string& id = key.empty() ? message : key;
    if (last == id) return;
    last = id;
    if (message.empty()) return;
    if (warn)
        log::warn(component, "-", message);
    else
        log::info(component, "-", message);
}

milliseconds agent::backoff() {
    ++failures_;
    return backoff_delay(failures_ - 1, duration_cast<milliseconds>(s_.retry_initial),
                         duration_cast<milliseconds>(s_.retry_max), random_());
}

void agent::note_error(const std::string& text, time_point now) {
    if (state_.last_error == text) return;
    state_.last_error = text;
    state_.last_error_at = text.empty() ? time_point{} : now;
    persist_(state_);
}

cycle_result agent::on_api_error(const desec::error& e, time_point now, std::string_view what) {
    cycle_result r = api_error_result(e, now, what);
    // Kept without the delays, so a repeated failure does not rewrite the state each time.
    std::string text = r.message;
    if (r.st == cycle_result::status::transient)
        text = std::string(what) + " failed: " + e.message;
    else if (e.kind == desec::error_kind::throttled)
        text = "deSEC throttled us (429) while " + std::string(what);
    note_error(text, now);
    return r;
}

cycle_result agent::api_error_result(const desec::error& e, time_point now, std::string_view what) {
    using desec::error_kind;
    cycle_result r;
    switch (e.kind) {
    case error_kind::unauthorized:
        r.st = cycle_result::status::fatal;
        r.exit_code = exit_code::bad_token;
        r.message = "deSEC rejected the API token from " + s_.token_file.string() + " while " +
                    std::string(what) + " (" + e.message +
                    "): the token is wrong, expired or revoked; put a valid token in that file";
        break;
    case error_kind::forbidden:
        r.st = cycle_result::status::fatal;
        r.exit_code = exit_code::forbidden;
        r.message = "the deSEC token from " + s_.token_file.string() +
                    " is not allowed to do "
                    "this: " +
                    std::string(what) + " (" + e.message +
                    "); its policy must allow writing the A/AAAA RRsets of the configured names "
                    "in " +
                    s_.domain;
        break;
    case error_kind::not_found:
        r.st = cycle_result::status::fatal;
        r.exit_code = exit_code::unknown_domain;
        r.message = "deSEC does not know the domain " + s_.domain + " (" + e.message + ") while " +
                    std::string(what) + ": check ddns.domain, and that the token in " +
                    s_.token_file.string() + " belongs to the account owning it";
        break;
    case error_kind::throttled: {
        // Retry-After is obeyed exactly; without one we fall back to our backoff.
        milliseconds wait = e.retry_after ? duration_cast<milliseconds>(*e.retry_after) : backoff();
        wait = std::min<milliseconds>(wait, 24h);
        state_.not_before = now + wait;
        persist_(state_);
        r = make(cycle_result::status::postponed, wait);
        r.message = "deSEC throttled us while " + std::string(what) + ": waiting " +
                    std::to_string(duration_cast<std::chrono::seconds>(wait).count()) +
                    "s as its Retry-After asks";
        log::warn(component, "-", r.message, {{"status", e.status}});
        return r;
    }
    case error_kind::bad_request: {
        auto wait = backoff();
        remote_known_ = false;
        r = make(cycle_result::status::failed, wait,
                 "deSEC refused the request while " + std::string(what) + ": " + e.message);
        log::error(component, "-", r.message);
        return r;
    }
    default: {
        auto wait = backoff();
        // After a failed write we do not know what deSEC has: read again before writing.
        remote_known_ = false;
        std::string hint;
        if (e.kind == error_kind::tls)
            hint = " (TLS verification failed: check the system CA store or desec.ca_file)";
        r = make(cycle_result::status::transient, wait,
                 std::string(what) + " failed: " + e.message + hint + "; retrying in " +
                     std::to_string(duration_cast<std::chrono::seconds>(wait).count()) + "s");
        log::warn(component, "-", r.message, {{"kind", std::string(desec::to_string(e.kind))}});
        return r;
    }
    }
    // Fatal: the runner logs it once, with the exit status (issue 16 bug 9: it was logged twice).
    return r;
}

std::optional<cycle_result> agent::ensure_remote(time_point now) {
    bool stale = !remote_known_ || now - remote_read_at_ >= s_.refresh_interval;
    if (minimum_ttl_ && !stale) return std::nullopt;
    std::vector<std::string> types;
    if (s_.ipv4) types.emplace_back("A");
    if (s_.ipv6) types.emplace_back("AAAA");
    if (auto w = reads_.wait_time(now); w > 0ms)
        return make(cycle_result::status::postponed, w, "read limit reached");
    if (!minimum_ttl_) {
        reads_.record(now);
        auto d = api_.get_domain(s_.domain);
        if (!d) return on_api_error(d.error(), now, "reading domain " + s_.domain);
        minimum_ttl_ = d->minimum_ttl;
        std::uint32_t want = s_.ttl == 0 ? d->minimum_ttl : s_.ttl;
        if (want < d->minimum_ttl) {
            log::warn(component, "-",
                      "ddns.ttl is below the domain's minimum_ttl; using the minimum",
                      {{"ttl", s_.ttl}, {"minimum_ttl", d->minimum_ttl}});
            want = d->minimum_ttl;
        }
        ttl_ = std::min<std::uint32_t>(want, desec::max_ttl);
    }
    std::map<std::string, std::map<std::string, std::vector<std::string>>> fresh;
    for (const auto& type : types) {
        reads_.record(now);
        auto list = api_.list_rrsets(s_.domain, desec::rrset_filter{std::nullopt, type});
        if (!list) return on_api_error(list.error(), now, "reading the " + type + " RRsets");
        for (auto& r : *list) fresh[r.subname][r.type] = std::move(r.records);
    }
    remote_ = std::move(fresh);
    remote_known_ = true;
    remote_read_at_ = now;
    for (const auto& sub : s_.subnames)
        for (const auto& type : types) {
            auto it = remote_.find(sub);
            std::vector<std::string> recs;
            if (it != remote_.end() && it->second.count(type)) recs = it->second.at(type);
            log::debug(
                component, "-", "deSEC has",
                {{"name", display_name(sub, s_.domain)}, {"type", type}, {"records", join(recs)}});
        }
    return std::nullopt;
}

std::optional<ip_address> agent::detect(family f, time_point now, bool& refused, bool& transient) {
    const ip_source& src = f == family::v4 ? s_.sources.v4 : s_.sources.v6;
    auto cached = last_detection_.find(f);
    if (src.type == ip_source::kind::checkip && cached != last_detection_.end() &&
        now - cached->second.at < checkip_min_spacing && now >= cached->second.at) {
        refused = refused || cached->second.refused;
        return cached->second.address;
    }
    auto a = detector_.detect(f);
    detection d;
    d.at = now;
    std::string topic = std::string(family_name(f));
    if (a) {
        d.address = *a;
        note(topic, "", false);
    } else if (a.error().type == detect_error::kind::refused) {
        d.refused = true;
        refused = true;
        note(topic, std::string(family_name(f)) + " not updated: " + a.error().message, true);
    } else {
        transient = true;
        note(topic, std::string(family_name(f)) + " address unknown: " + a.error().message, true);
    }
    last_detection_[f] = d;
    return d.address;
}

cycle_result agent::run_cycle(time_point now) {
    if (state_.not_before && now < *state_.not_before) {
        return make(cycle_result::status::postponed,
                    duration_cast<milliseconds>(*state_.not_before - now),
                    "waiting for deSEC's Retry-After");
    }
    if (state_.not_before) {
        state_.not_before.reset();
        persist_(state_);
    }
    if (auto r = ensure_remote(now)) return *r;

    bool refused = false;
    bool transient = false;
    std::vector<std::pair<family, ip_address>> wanted;
    for (family f : {family::v4, family::v6}) {
        if ((f == family::v4 && !s_.ipv4) || (f == family::v6 && !s_.ipv6)) continue;
        if (auto a = detect(f, now, refused, transient)) wanted.emplace_back(f, *a);
    }

    std::vector<desec::rrset> changes;
    std::vector<std::vector<std::string>> old_records;
    bool confirmed = false;
    for (const auto& sub : s_.subnames) {
        for (const auto& [f, addr] : wanted) {
            std::string type(record_type(f));
            std::vector<std::string> current;
            if (auto it = remote_.find(sub); it != remote_.end())
                if (auto jt = it->second.find(type); jt != it->second.end()) current = jt->second;
            if (same_addresses(current, addr)) {
                // deSEC already has it (written before a restart that lost the state, or by
                // hand): the state says so, or `splitmail check` would report it unpublished.
                auto& known = state_.published[published_key(sub, type)];
                if (known != current) {
                    known = current;
                    confirmed = true;
                }
                continue;
            }
            changes.push_back(desec::rrset{sub, type, ttl_, {addr.to_string()}});
            old_records.push_back(current);
        }
    }
    if (confirmed && !dry_run_) persist_(state_);

    auto idle = [&](cycle_result::status st) {
        cycle_result r = make(st, duration_cast<milliseconds>(s_.interval));
        r.refused = refused;
        if (transient && wanted.empty()) {
            r.st = cycle_result::status::transient;
            r.next = std::min(r.next, duration_cast<milliseconds>(s_.retry_max));
            r.message = "no address could be detected";
        }
        return r;
    };
    if (changes.empty()) {
        if (!transient) {
            failures_ = 0;
            note_error("", now);
        }
        return idle(cycle_result::status::unchanged);
    }

    if (s_.damping && !damper_.allowed(now)) {
        auto wait = std::max<milliseconds>(damper_.time_to_reuse(now), 1000ms);
        // Logged once when the hold-down starts, not every cycle.
        note("damping",
             "address is flapping: changes are held back by flap damping for about " +
                 std::to_string(duration_cast<std::chrono::minutes>(wait).count() + 1) + " min",
             true, "damping-active");
        cycle_result r =
            make(cycle_result::status::postponed,
                 std::min(wait, duration_cast<milliseconds>(s_.interval)), "flap damping");
        r.refused = refused;
        return r;
    }
    note("damping", "", false);
    if (auto w = writes_.wait_time(now); w > 0ms) {
        note("limit",
             "deSEC write limit reached: next write in " +
                 std::to_string(duration_cast<std::chrono::seconds>(w).count()) + "s",
             true, "limit-active");
        cycle_result r = make(cycle_result::status::postponed, w, "write limit");
        r.refused = refused;
        return r;
    }
    note("limit", "", false);

    if (dry_run_) {
        for (std::size_t i = 0; i < changes.size(); ++i)
            log::info(component, "-", "would change (dry run)",
                      {{"name", display_name(changes[i].subname, s_.domain)},
                       {"type", changes[i].type},
                       {"old", join(old_records[i])},
                       {"new", join(changes[i].records)},
                       {"ttl", ttl_}});
        cycle_result r =
            make(cycle_result::status::would_update, duration_cast<milliseconds>(s_.interval));
        r.refused = refused;
        return r;
    }

    // One bulk PATCH for all names and both families: atomic on deSEC's side and one unit of
    // the per-domain write budget instead of one per RRset.
    writes_.record(now);
    state_.writes = writes_.history();
    ++writes_sent_;
    auto written = api_.patch_rrsets(s_.domain, changes);
    if (!written) {
        persist_(state_);
        auto r = on_api_error(written.error(), now, "updating the records");
        r.refused = r.refused || refused;
        return r;
    }
    failures_ = 0;
    state_.last_error.clear();
    state_.last_error_at = {};
    if (s_.damping) damper_.record_change(now);
    state_.damping = damper_.save();
    for (std::size_t i = 0; i < changes.size(); ++i) {
        const auto& c = changes[i];
        remote_[c.subname][c.type] = c.records;
        state_.published[published_key(c.subname, c.type)] = c.records;
        log::info(component, "-", "updated",
                  {{"name", display_name(c.subname, s_.domain)},
                   {"type", c.type},
                   {"old", join(old_records[i])},
                   {"new", join(c.records)},
                   {"ttl", ttl_}});
    }
    persist_(state_);
    cycle_result r = make(cycle_result::status::updated, duration_cast<milliseconds>(s_.interval));
    r.refused = refused;
    return r;
}

} // namespace splitmail::ddns
