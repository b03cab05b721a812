// Envelope <-> JSON: see envelope.hpp. Times are stored as integer Unix seconds.
#include "splitmail/queue/envelope.hpp"

#include "splitmail/queue/id.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace splitmail::queue {

using json = nlohmann::json;

namespace {

constexpr int format_version = 1;
// Upper bound for stored times (year 2242): keeps the nanosecond time_point from overflowing.
constexpr std::int64_t max_seconds = std::int64_t{1} << 33;

std::string upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::int64_t to_seconds(time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string_view to_string(ret_type r) {
    switch (r) {
    case ret_type::hdrs: return "HDRS";
    case ret_type::full: return "FULL";
    default: return "";
    }
}

std::string_view to_string(body_type b) {
    switch (b) {
    case body_type::seven_bit: return "7BIT";
    case body_type::eight_bit_mime: return "8BITMIME";
    case body_type::binary_mime: return "BINARYMIME";
    default: return "";
    }
}

// Field readers: each returns false (and sets `why`) on a present member of the wrong type.
struct reader {
    const json& j;
    std::string why;

    const json* find(const char* key) const {
        auto it = j.find(key);
        return it == j.end() || it->is_null() ? nullptr : &*it;
    }
    bool str(const char* key, std::string& out, bool required = false) {
        const json* v = find(key);
        if (!v) return required ? fail(key, "missing") : true;
        if (!v->is_string()) return fail(key, "not a string");
        out = v->get<std::string>();
        return true;
    }
    bool boolean(const char* key, bool& out) {
        const json* v = find(key);
        if (!v) return true;
        if (!v->is_boolean()) return fail(key, "not a boolean");
        out = v->get<bool>();
        return true;
    }
    bool integer(const char* key, std::int64_t& out, std::int64_t lo, std::int64_t hi,
                 bool required = false) {
        const json* v = find(key);
        if (!v) return required ? fail(key, "missing") : true;
        if (!v->is_number_integer()) return fail(key, "not an integer");
        if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
            return fail(key, "out of range");
        std::int64_t x = v->get<std::int64_t>();
        if (x < lo || x > hi) return fail(key, "out of range");
        out = x;
        return true;
    }
    bool time(const char* key, time_point& out, bool required = false) {
        std::int64_t s = 0;
        if (!find(key)) return required ? fail(key, "missing") : true;
        if (!integer(key, s, 0, max_seconds)) return false;
        out = time_point{std::chrono::seconds{s}};
        return true;
    }
    bool fail(const char* key, const char* reason) {
        why = std::string(key) + ": " + reason;
        return false;
    }
};

} // namespace

std::optional<dsn_notify> parse_notify(std::string_view value) {
    dsn_notify n;
    n.given = true;
    const std::string v = upper(value);
    if (v == "NEVER") return n;
    std::size_t pos = 0;
    while (pos <= v.size()) {
        std::size_t comma = v.find(',', pos);
        if (comma == std::string::npos) comma = v.size();
        std::string_view item(v.data() + pos, comma - pos);
        if (item == "SUCCESS")
            n.success = true;
        else if (item == "FAILURE")
            n.failure = true;
        else if (item == "DELAY")
            n.delay = true;
        else
            return std::nullopt; // includes "" and NEVER inside a list (RFC 3461 4.1)
        pos = comma + 1;
    }
    return n;
}

std::string to_string(const dsn_notify& n) {
    if (!n.given) return "";
    std::string out;
    auto add = [&](const char* w) {
        if (!out.empty()) out += ',';
        out += w;
    };
    if (n.success) add("SUCCESS");
    if (n.failure) add("FAILURE");
    if (n.delay) add("DELAY");
    return out.empty() ? "NEVER" : out;
}

std::string_view to_string(rcpt_state s) {
    switch (s) {
    case rcpt_state::pending: return "pending";
    case rcpt_state::delivered: return "delivered";
    case rcpt_state::failed: return "failed";
    case rcpt_state::deferred: return "deferred";
    }
    return "pending";
}

std::string_view to_string(rcpt_route r) { return r == rcpt_route::remote ? "remote" : "home"; }

std::string_view to_string(queue_name q) {
    switch (q) {
    case queue_name::incoming: return "incoming";
    case queue_name::deferred: return "deferred";
    case queue_name::hold: return "hold";
    }
    return "incoming";
}

std::optional<rcpt_state> parse_rcpt_state(std::string_view s) {
    for (auto v :
         {rcpt_state::pending, rcpt_state::delivered, rcpt_state::failed, rcpt_state::deferred})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

std::optional<rcpt_route> parse_route(std::string_view s) {
    if (s == "home") return rcpt_route::home;
    if (s == "remote") return rcpt_route::remote;
    return std::nullopt;
}

std::optional<queue_name> parse_queue_name(std::string_view s) {
    for (auto v : {queue_name::incoming, queue_name::deferred, queue_name::hold})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

std::string to_json(const envelope& e) {
    json rcpts = json::array();
    for (const auto& r : e.recipients) {
        rcpts.push_back({{"address", r.address},
                         {"orcpt", r.orcpt},
                         {"notify", to_string(r.notify)},
                         {"state", to_string(r.state)},
                         {"last_code", r.last_code},
                         {"last_enhanced", r.last_enhanced},
                         {"last_text", r.last_text},
                         {"route", to_string(r.route)}});
    }
    json j = {{"version", format_version},
              {"id", e.id},
              {"sender", e.sender},
              {"recipients", std::move(rcpts)},
              {"ret", to_string(e.ret)},
              {"envid", e.envid},
              {"body", to_string(e.body)},
              {"smtputf8", e.smtputf8},
              {"arrival", to_seconds(e.arrival)},
              {"attempts", e.attempts},
              {"next_attempt", to_seconds(e.next_attempt)},
              {"last_error", e.last_error},
              {"client_ip", e.client_ip},
              {"client_helo", e.client_helo},
              {"size", e.size},
              {"delay_warned", e.delay_warned}};
    // Only for streamed messages (spool::enqueue_file): the trace/signature lines that go in
    // front of the message file's bytes.
    if (!e.prefix.empty()) j["prefix"] = e.prefix;
    if (e.file_skip != 0) j["file_skip"] = e.file_skip;
    // Never throws: invalid UTF-8 (which the SMTP layer should not let through) becomes U+FFFD.
    return j.dump(1, '\t', false, json::error_handler_t::replace) + "\n";
}

std::expected<envelope, std::string> from_json(std::string_view text) {
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded()) return std::unexpected("not valid JSON");
    if (!j.is_object()) return std::unexpected("not a JSON object");
    reader rd{j, {}};
    envelope e;
    std::int64_t version = format_version;
    if (!rd.integer("version", version, 1, format_version)) return std::unexpected(rd.why);
    if (!rd.str("id", e.id, true)) return std::unexpected(rd.why);
    if (!is_valid_id(e.id)) return std::unexpected("id: not a queue id");
    if (!rd.str("sender", e.sender, true)) return std::unexpected(rd.why);

    std::string ret, body;
    std::int64_t attempts = 0, size = 0, file_skip = 0;
    if (!rd.str("ret", ret) || !rd.str("envid", e.envid) || !rd.str("body", body) ||
        !rd.boolean("smtputf8", e.smtputf8) || !rd.time("arrival", e.arrival, true) ||
        !rd.integer("attempts", attempts, 0, 1'000'000) ||
        !rd.time("next_attempt", e.next_attempt) || !rd.str("last_error", e.last_error) ||
        !rd.str("client_ip", e.client_ip) || !rd.str("client_helo", e.client_helo) ||
        !rd.integer("size", size, 0, std::int64_t{1} << 50) ||
        !rd.boolean("delay_warned", e.delay_warned) || !rd.str("prefix", e.prefix) ||
        !rd.integer("file_skip", file_skip, 0, std::int64_t{1} << 50))
        return std::unexpected(rd.why);
    e.attempts = static_cast<int>(attempts);
    e.size = static_cast<std::uint64_t>(size);
    e.file_skip = static_cast<std::uint64_t>(file_skip);
    if (ret == "HDRS")
        e.ret = ret_type::hdrs;
    else if (ret == "FULL")
        e.ret = ret_type::full;
    else if (!ret.empty())
        return std::unexpected("ret: unknown value");
    if (body == "7BIT")
        e.body = body_type::seven_bit;
    else if (body == "8BITMIME")
        e.body = body_type::eight_bit_mime;
    else if (body == "BINARYMIME")
        e.body = body_type::binary_mime;
    else if (!body.empty())
        return std::unexpected("body: unknown value");

    auto it = j.find("recipients");
    if (it == j.end() || !it->is_array())
        return std::unexpected("recipients: missing or not a list");
    if (it->empty()) return std::unexpected("recipients: empty");
    for (const auto& rj : *it) {
        if (!rj.is_object()) return std::unexpected("recipients: item not an object");
        reader rr{rj, {}};
        recipient r;
        std::string notify, state = "pending", route = "home";
        std::int64_t code = 0;
        if (!rr.str("address", r.address, true) || !rr.str("orcpt", r.orcpt) ||
            !rr.str("notify", notify) || !rr.str("state", state) ||
            !rr.integer("last_code", code, 0, 999) || !rr.str("last_enhanced", r.last_enhanced) ||
            !rr.str("last_text", r.last_text) || !rr.str("route", route))
            return std::unexpected("recipients: " + rr.why);
        r.last_code = static_cast<int>(code);
        if (!notify.empty()) {
            auto n = parse_notify(notify);
            if (!n) return std::unexpected("recipients: notify: bad value");
            r.notify = *n;
        }
        auto st = parse_rcpt_state(state);
        if (!st) return std::unexpected("recipients: state: unknown value");
        r.state = *st;
        auto rt = parse_route(route);
        if (!rt) return std::unexpected("recipients: route: unknown value");
        r.route = *rt;
        e.recipients.push_back(std::move(r));
    }
    return e;
}

} // namespace splitmail::queue
