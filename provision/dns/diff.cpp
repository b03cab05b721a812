// Plan against deSEC: see diff.hpp.
#include "dns/diff.hpp"

#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

namespace splitmail::provision::dns {

namespace {

using key = std::pair<std::string, std::string>; // (subname, type)

std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

} // namespace

std::string absolute_name(const std::string& subname, const std::string& domain) {
    return (subname.empty() ? "" : subname + ".") + domain + ".";
}

std::vector<change> compute_diff(const plan& desired, std::span<const desec::rrset> current,
                                 const diff_options& o) {
    std::map<key, const desec::rrset*> now;
    for (const auto& r : current) now[{r.subname, r.type}] = &r;

    std::vector<change> out;
    std::map<key, bool> planned;
    for (const auto& want : desired.rrsets) {
        planned[{want.subname, want.type}] = true;
        desec::rrset after = want;
        after.ttl = o.ttl;
        after.records = sorted(after.records);
        auto it = now.find({want.subname, want.type});
        if (it == now.end() || it->second->records.empty()) {
            out.push_back({change_kind::create, {want.subname, want.type, 0, {}}, after});
            continue;
        }
        desec::rrset before = *it->second;
        before.records = sorted(before.records);
        if (before.records != after.records || before.ttl != after.ttl)
            out.push_back({change_kind::update, before, after});
    }
    if (o.prune) {
        for (const auto& [k, r] : now) {
            if (planned.contains(k)) continue;
            if (k.first.empty() && k.second == "NS") continue; // the delegation: never ours
            if (std::find(o.keep.begin(), o.keep.end(), k) != o.keep.end()) continue;
            desec::rrset before = *r;
            before.records = sorted(before.records);
            out.push_back({change_kind::remove, before, {k.first, k.second, 0, {}}});
        }
    }
    std::sort(out.begin(), out.end(), [](const change& a, const change& b) {
        const auto& x = a.kind == change_kind::remove ? a.before : a.after;
        const auto& y = b.kind == change_kind::remove ? b.before : b.after;
        return std::tie(x.subname, x.type) < std::tie(y.subname, y.type);
    });
    return out;
}

std::vector<desec::rrset> patch_items(std::span<const change> changes) {
    std::vector<desec::rrset> items;
    for (const auto& c : changes) {
        if (c.kind == change_kind::remove)
            items.push_back({c.before.subname, c.before.type, 0, {}}); // records: [] deletes
        else
            items.push_back(c.after);
    }
    return items;
}

std::string render_diff(std::span<const change> changes, const std::string& domain) {
    std::ostringstream o;
    for (const auto& c : changes) {
        switch (c.kind) {
        case change_kind::create:
            for (const auto& r : c.after.records)
                o << "  + " << absolute_name(c.after.subname, domain) << ' ' << c.after.ttl << ' '
                  << c.after.type << ' ' << r << '\n';
            break;
        case change_kind::remove:
            for (const auto& r : c.before.records)
                o << "  - " << absolute_name(c.before.subname, domain) << ' ' << c.before.ttl << ' '
                  << c.before.type << ' ' << r << "   (not planned; --prune)\n";
            break;
        case change_kind::update: {
            o << "  ~ " << absolute_name(c.after.subname, domain) << ' ' << c.after.type << '\n';
            if (c.before.ttl != c.after.ttl)
                o << "      TTL " << c.before.ttl << " -> " << c.after.ttl << '\n';
            for (const auto& r : c.before.records)
                if (!std::binary_search(c.after.records.begin(), c.after.records.end(), r))
                    o << "      - " << r << '\n';
            for (const auto& r : c.after.records)
                if (!std::binary_search(c.before.records.begin(), c.before.records.end(), r))
                    o << "      + " << r << '\n';
            break;
        }
        }
    }
    return o.str();
}

} // namespace splitmail::provision::dns
