// `splitmail dkim`: see dkim.hpp.
#include "commands/dkim.hpp"
#include "splitmail/dkim/key.hpp"
#include "splitmail/dkim/record.hpp"
#include "splitmail/durable/file.hpp"

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

namespace splitmail::provision {

namespace fs = std::filesystem;

namespace {

constexpr const char* usage =
    "usage: splitmail dkim keygen --domain D --selector S [--algorithm rsa|ed25519|both]\n"
    "                             [--dir DIR] [--force]\n"
    "       splitmail dkim txt --domain D [--selector S]... [--dir DIR]\n"
    "Keys are DIR/D/SELECTOR.key (DIR defaults to /etc/splitmail/dkim); with --algorithm both\n"
    "(the default) the selectors are S-rsa and S-ed25519.\n";

// The record value of a PEM private key held in memory.
std::expected<std::string, std::string> key_txt(const std::string& pem) {
    auto k = dkim::key_from_pem(pem, "key.invalid", "new");
    if (!k) return std::unexpected(k.error());
    return dkim::txt_value(k->pkey.get());
}

// Writes `content` as `path` (mode 0600), durably (durable/file.hpp).
std::optional<std::string> write_key_file(const fs::path& path, const std::string& content) {
    auto r = durable::replace_file(path, content); // mode 0600
    if (!r) return r.error().text();
    return std::nullopt;
}

struct options {
    std::string domain;
    std::vector<std::string> selectors;
    std::string algorithm = "both";
    fs::path dir{std::string(dkim::default_key_dir)};
    bool force = false;
};

// Parses --name VALUE options; returns an error text for a usage error.
std::optional<std::string> parse(std::span<const std::string> args, options& o, bool keygen) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a == "--force" && keygen) {
            o.force = true;
            continue;
        }
        const bool known =
            a == "--domain" || a == "--selector" || a == "--dir" || (a == "--algorithm" && keygen);
        if (!known) return "unknown option \"" + a + "\"";
        if (i + 1 >= args.size()) return a + " needs a value";
        const std::string& v = args[++i];
        if (a == "--domain") o.domain = v;
        if (a == "--selector") o.selectors.push_back(v);
        if (a == "--dir") o.dir = v;
        if (a == "--algorithm") o.algorithm = v;
    }
    if (o.domain.empty()) return "--domain is required";
    if (!dkim::valid_domain(o.domain)) return "invalid domain \"" + o.domain + "\"";
    for (const auto& s : o.selectors)
        if (!dkim::valid_selector(s)) return "invalid selector \"" + s + "\"";
    if (keygen) {
        if (o.selectors.size() != 1) return "keygen needs exactly one --selector";
        if (o.algorithm != "rsa" && o.algorithm != "ed25519" && o.algorithm != "both")
            return "--algorithm must be rsa, ed25519 or both";
    }
    return std::nullopt;
}

std::string record_line(std::string_view selector, std::string_view domain,
                        std::string_view value) {
    std::string out(selector);
    out += "._domainkey.";
    out += domain;
    out += ". IN TXT ";
    out += txt_strings(value);
    return out;
}

int keygen(const options& o, std::ostream& out, std::ostream& err) {
    struct job {
        std::string selector;
        const char* algorithm; // dkim::new_key_pem
        std::string what;
        fs::path file;
    };
    std::vector<job> jobs;
    const std::string& s = o.selectors.front();
    if (o.algorithm == "rsa") jobs.push_back({s, "rsa", "RSA-2048", {}});
    if (o.algorithm == "ed25519") jobs.push_back({s, "ed25519", "Ed25519", {}});
    if (o.algorithm == "both") {
        jobs.push_back({s + "-rsa", "rsa", "RSA-2048", {}});
        jobs.push_back({s + "-ed25519", "ed25519", "Ed25519", {}});
    }
    const fs::path ddir = o.dir / o.domain;
    for (auto& j : jobs) {
        j.file = dkim::key_file(o.dir, o.domain, j.selector);
        std::error_code ec;
        if (fs::symlink_status(j.file, ec).type() != fs::file_type::not_found && !o.force) {
            err << "splitmail dkim: " << j.file.string()
                << " exists; not replacing a key without --force\n";
            return 1;
        }
    }
    std::error_code ec;
    const bool created = !fs::exists(ddir, ec);
    fs::create_directories(ddir, ec);
    if (ec) {
        err << "splitmail dkim: cannot create " << ddir.string() << ": " << ec.message() << "\n";
        return 1;
    }
    if (created) fs::permissions(ddir, fs::perms::owner_all, ec);

    // Generate everything first, then write: a failure leaves no half-made pair behind.
    std::vector<std::pair<std::string, std::string>> made; // pem, txt value
    for (const auto& j : jobs) {
        auto pem = dkim::new_key_pem(j.algorithm);
        if (!pem) {
            err << "splitmail dkim: " << pem.error() << "\n";
            return 1;
        }
        auto txt = key_txt(*pem);
        if (!txt) {
            err << "splitmail dkim: " << txt.error() << "\n";
            return 1;
        }
        made.emplace_back(std::move(*pem), std::move(*txt));
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (auto e = write_key_file(jobs[i].file, made[i].first)) {
            err << "splitmail dkim: cannot write " << *e << "\n";
            return 1;
        }
    }
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        out << "; " << jobs[i].what << " key " << jobs[i].file.string()
            << " (s=" << jobs[i].selector << ")\n";
        out << record_line(jobs[i].selector, o.domain, made[i].second) << "\n";
    }
    return 0;
}

int txt(options o, std::ostream& out, std::ostream& err) {
    const fs::path ddir = o.dir / o.domain;
    if (o.selectors.empty()) {
        auto found = dkim::selectors_in(o.dir, o.domain);
        if (!found) {
            err << "splitmail dkim: " << found.error() << "\n";
            return 1;
        }
        if (found->empty()) {
            err << "splitmail dkim: no key in " << ddir.string() << "\n";
            return 1;
        }
        o.selectors = std::move(*found);
    }
    for (const auto& s : o.selectors) {
        auto v = dkim::txt_value_of_file(dkim::key_file(o.dir, o.domain, s));
        if (!v) {
            err << "splitmail dkim: " << v.error() << "\n";
            return 1;
        }
        out << record_line(s, o.domain, *v) << "\n";
    }
    return 0;
}

} // namespace

std::string txt_strings(std::string_view value) {
    // RFC 1035 3.3.14: a TXT record is a sequence of <character-string>s of at most 255
    // octets; verifiers concatenate them (RFC 6376 3.6.2.2). The values we make hold no '"'
    // or '\\', so no escaping is needed.
    if (value.empty()) return "\"\"";
    std::string out;
    for (std::size_t at = 0; at < value.size(); at += 255) {
        if (!out.empty()) out += ' ';
        out += '"';
        out += value.substr(at, 255);
        out += '"';
    }
    return out;
}

std::expected<std::string, std::string> dkim_new_key_pem(std::string_view algorithm) {
    return dkim::new_key_pem(algorithm);
}

std::expected<std::string, std::string> dkim_txt_value(const fs::path& key_file) {
    return dkim::txt_value_of_file(key_file);
}

int run_dkim(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
    if (args.empty() || args[0] == "--help" || args[0] == "-h") {
        (args.empty() ? err : out) << usage;
        return args.empty() ? 2 : 0;
    }
    for (const auto& a : args)
        if (a == "--help" || a == "-h") {
            out << usage;
            return 0;
        }
    const std::string& sub = args[0];
    if (sub != "keygen" && sub != "txt") {
        err << "splitmail dkim: unknown subcommand \"" << sub << "\"\n" << usage;
        return 2;
    }
    options o;
    if (auto e = parse(args.subspan(1), o, sub == "keygen")) {
        err << "splitmail dkim " << sub << ": " << *e << "\n" << usage;
        return 2;
    }
    return sub == "keygen" ? keygen(o, out, err) : txt(std::move(o), out, err);
}

int run_dkim(std::span<const std::string> args) { return run_dkim(args, std::cout, std::cerr); }

} // namespace splitmail::provision
