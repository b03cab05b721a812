// `splitmail queue`: see queue.hpp.
#include "commands/queue.hpp"

#include "splitmail/durable/committer.hpp"
#include "splitmail/queue/control.hpp"
#include "splitmail/queue/spool.hpp"

#include <ctime>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include "splitmail/config/relay.hpp"
#include <vector>

namespace splitmail::provision {

namespace fs = std::filesystem;

namespace {

constexpr const char* usage =
    "usage: splitmail queue [--spool DIR | --config FILE] list | show ID | flush | delete ID...\n";
constexpr const char* default_config = "/etc/splitmail/relay.toml";

std::string utc(queue::time_point t) {
    if (t == queue::time_point{}) return "-";
    std::time_t tt = std::chrono::system_clock::to_time_t(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
    return buf;
}

std::string sender_text(const std::string& s) { return s.empty() ? "<> (null sender)" : s; }

std::string recipient_line(const queue::recipient& r) {
    std::string s = r.address + "  [" + std::string(queue::to_string(r.state));
    if (r.last_code != 0) s += " " + std::to_string(r.last_code);
    if (!r.last_enhanced.empty()) s += " " + r.last_enhanced;
    if (!r.last_text.empty()) s += " " + r.last_text;
    return s + "]";
}

// spool.dir from relay.toml, read through the relay's own table: its default
// (/var/spool/splitmail) applies when the file does not set it, as it does for the relay.
std::optional<fs::path> spool_from_config(const fs::path& file, std::ostream& err) {
    auto s = relay::load_settings(file, config::referenced_files::names_only);
    if (s) return s->spool_dir;
    err << "splitmail queue: " << s.error() << "\n";
    return std::nullopt;
}

int do_list(const queue::spool& s, std::ostream& out, std::ostream& err) {
    auto l = s.list();
    for (const auto& e : l.errors) err << "splitmail queue: unreadable envelope " << e << "\n";
    if (l.envelopes.empty()) {
        out << "Mail queue is empty\n";
        return l.errors.empty() ? 0 : 1;
    }
    out << std::left << std::setw(20) << "-Queue ID-" << std::right << std::setw(10) << "--Size--"
        << "  " << std::left << std::setw(22) << "--Arrival Time--"
        << "-Sender/Recipient-\n";
    std::uint64_t bytes = 0;
    for (const auto& e : l.envelopes) {
        bytes += e.size;
        out << std::left << std::setw(20) << e.id << std::right << std::setw(10) << e.size << "  "
            << std::left << std::setw(22) << utc(e.arrival) << sender_text(e.sender) << "\n";
        out << "    (" << queue::to_string(e.queue) << ", attempts " << e.attempts;
        if (e.attempts > 0 || e.queue != queue::queue_name::incoming)
            out << ", next " << utc(e.next_attempt);
        if (!e.last_error.empty()) out << ": " << e.last_error;
        out << ")\n";
        for (const auto& r : e.recipients) out << std::string(54, ' ') << recipient_line(r) << "\n";
    }
    const auto n = l.envelopes.size();
    out << "-- " << (bytes + 1023) / 1024 << " Kbytes in " << n
        << (n == 1 ? " Request.\n" : " Requests.\n");
    return l.errors.empty() ? 0 : 1;
}

int do_show(const queue::spool& s, const std::string& id, std::ostream& out, std::ostream& err) {
    auto e = s.load(id);
    if (!e) {
        err << "splitmail queue: " << id << ": "
            << (e.error() == std::errc::no_such_file_or_directory ? "no such message in the queue"
                : e.error() == std::errc::invalid_argument        ? "not a queue id"
                                                                  : e.error().message())
            << "\n";
        return 1;
    }
    out << "id:           " << e->id << "\n"
        << "queue:        " << queue::to_string(e->queue) << "\n"
        << "sender:       " << sender_text(e->sender) << "\n"
        << "size:         " << e->size << "\n"
        << "arrival:      " << utc(e->arrival) << "\n"
        << "attempts:     " << e->attempts << "\n"
        << "next attempt: " << utc(e->next_attempt) << "\n"
        << "last error:   " << (e->last_error.empty() ? "-" : e->last_error) << "\n"
        << "client:       " << (e->client_ip.empty() ? "-" : e->client_ip)
        << " helo=" << (e->client_helo.empty() ? "-" : e->client_helo) << "\n"
        << "dsn:          ret="
        << (e->ret == queue::ret_type::full   ? "FULL"
            : e->ret == queue::ret_type::hdrs ? "HDRS"
                                              : "-")
        << " envid=" << (e->envid.empty() ? "-" : e->envid)
        << " delay_warned=" << (e->delay_warned ? "yes" : "no") << "\n"
        << "smtputf8:     " << (e->smtputf8 ? "yes" : "no") << "\n"
        << "recipients:\n";
    for (const auto& r : e->recipients) {
        out << "  " << recipient_line(r) << " route=" << queue::to_string(r.route);
        if (!r.orcpt.empty()) out << " orcpt=" << r.orcpt;
        if (r.notify.given) out << " notify=" << queue::to_string(r.notify);
        out << "\n";
    }
    auto msg = s.read_message(id);
    if (!msg) {
        err << "splitmail queue: " << s.message_path(id).string() << ": " << msg.error().message()
            << "\n";
        return 1;
    }
    auto end = msg->find("\r\n\r\n");
    out << "message header (" << s.message_path(id).string() << "):\n"
        << msg->substr(0, end == std::string::npos ? msg->size() : end + 2);
    return 0;
}

int do_delete(queue::spool& s, std::span<const std::string> ids, std::ostream& out,
              std::ostream& err) {
    int rc = 0;
    for (const auto& id : ids) {
        auto env = s.load(id); // for the report; deleting works even if it is unparsable
        auto where = s.remove_to_deleted(id);
        if (!where) {
            err << "splitmail queue: " << id << ": "
                << (where.error() == std::errc::no_such_file_or_directory
                        ? "no such message in the queue"
                    : where.error() == std::errc::invalid_argument ? "not a queue id"
                                                                   : where.error().message())
                << "\n";
            rc = 1;
            continue;
        }
        out << "deleted " << id << " (from " << queue::to_string(*where) << ")";
        if (env) {
            out << ": " << sender_text(env->sender) << " ->";
            for (const auto& r : env->recipients) out << " " << r.address;
        }
        out << "; kept in " << (s.root() / "deleted").string() << "\n";
    }
    return rc;
}

} // namespace

int run_queue(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    std::optional<fs::path> spool_dir, config;
    std::vector<std::string> rest;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if ((a == "--spool" || a == "--config") && i + 1 < args.size()) {
            (a == "--spool" ? spool_dir : config) = fs::path(args[++i]);
        } else if (a == "-h" || a == "--help") {
            out << usage;
            return 0;
        } else if (a.starts_with("--")) {
            err << "splitmail queue: unknown option " << a << "\n" << usage;
            return 2;
        } else {
            rest.push_back(a);
        }
    }
    if (rest.empty()) {
        err << usage;
        return 2;
    }
    const std::string cmd = rest[0];
    const std::span<const std::string> operands(rest.data() + 1, rest.size() - 1);
    const bool bad_arity = (cmd == "list" || cmd == "flush") ? !operands.empty()
                           : cmd == "show"                   ? operands.size() != 1
                           : cmd == "delete"                 ? operands.empty()
                                                             : true;
    if (bad_arity) {
        err << "splitmail queue: bad command line\n" << usage;
        return 2;
    }
    if (!spool_dir) {
        const fs::path cfg = config.value_or(default_config);
        if (!config && !fs::exists(cfg)) {
            err << "splitmail queue: give --spool DIR or --config FILE (" << default_config
                << " does not exist)\n";
            return 2;
        }
        spool_dir = spool_from_config(cfg, err);
        if (!spool_dir) return 2;
    }

    if (cmd == "flush") {
        auto r = queue::signal_flush(*spool_dir);
        (r.result == queue::flush_result::signalled ? out : err) << r.detail << "\n";
        return r.result == queue::flush_result::signalled ? 0 : 1;
    }

    durable::committer committer({.threads = 1, .dir_threads = 1, .dir_fsyncs_in_flight = 1});
    auto s = queue::spool::open(*spool_dir, committer, false);
    if (!s) {
        err << "splitmail queue: " << spool_dir->string() << ": not a spool ("
            << s.error().message() << ")\n";
        return 1;
    }
    if (cmd == "list") return do_list(*s, out, err);
    if (cmd == "show") return do_show(*s, operands[0], out, err);
    return do_delete(*s, operands, out, err);
}

int run_queue(std::span<const std::string> args) { return run_queue(args, std::cout, std::cerr); }

} // namespace splitmail::provision
