#pragma once
// Whole numbers read from JSON that a damaged or edited file, or a peer, may have made
// anything: nlohmann's get<int>() of a float out of int's range is undefined behaviour (found
// twice by ddns_desec_json_fuzz) and of a large unsigned value silently wraps.
//
// Guarantees: json_integer<T>(v) is the value of a JSON integer (signed or unsigned) that fits
// T, else nullopt (floats, strings, out of range: all nullopt; never converts a float).
// integer_at / integer_or throw std::range_error naming the key when the value is there but
// not such a number (integer_at: nlohmann's out_of_range when the key is missing).
// Does not: accept 1.0 or "1" as 1.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

namespace splitmail::text {

template <class T>
std::optional<T> json_integer(const nlohmann::json& v) {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (!std::in_range<T>(u)) return std::nullopt;
        return static_cast<T>(u);
    }
    if (v.is_number_integer()) {
        const auto i = v.get<std::int64_t>();
        if (!std::in_range<T>(i)) return std::nullopt;
        return static_cast<T>(i);
    }
    return std::nullopt;
}

namespace detail {
template <class T>
T integer_named(const nlohmann::json& value, const std::string& key) {
    if (auto v = json_integer<T>(value)) return *v;
    throw std::range_error(key + ": not a whole number in range");
}
} // namespace detail

template <class T>
T integer_at(const nlohmann::json& object, const std::string& key) {
    return detail::integer_named<T>(object.at(key), key);
}

template <class T>
T integer_or(const nlohmann::json& object, const std::string& key, T fallback) {
    const auto it = object.find(key);
    return it == object.end() ? fallback : detail::integer_named<T>(*it, key);
}

} // namespace splitmail::text
