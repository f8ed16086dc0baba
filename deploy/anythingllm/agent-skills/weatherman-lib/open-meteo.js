// The weatherman's three tools for AnythingLLM's agent: Open-Meteo's geocoding and forecast APIs, answered in
// exactly the shapes the adapter was trained on. The JavaScript twin of tasks/serve/tools.py (same requests,
// fields, units, descriptions from wmo.json = tasks/data/weather.py's table, and error results);
// tests/serve/test_anythingllm_skills.py runs both on the same recorded answers and compares them.
// Needs Node 18+ (global fetch), as AnythingLLM itself does. No API key: Open-Meteo is free for non-commercial use.

const WMO = require("./wmo.json");

const GEOCODING_URL = "https://geocoding-api.open-meteo.com/v1/search";
const FORECAST_URL = "https://api.open-meteo.com/v1/forecast";
const TIMEOUT_MS = 10000;
const MAX_FORECAST_DAYS = 14;
const CURRENT_FIELDS = ["temperature_2m", "apparent_temperature", "relative_humidity_2m", "precipitation", "weather_code", "wind_speed_10m"];
const DAILY_FIELDS = ["weather_code", "temperature_2m_max", "temperature_2m_min", "precipitation_sum", "precipitation_probability_max"];
const INTEGER_FIELDS = new Set(["relative_humidity_2m", "weather_code", "precipitation_probability_max"]);
const CURRENT_UNITS = { temperature_2m: "°C", apparent_temperature: "°C", relative_humidity_2m: "%", precipitation: "mm", wind_speed_10m: "km/h" };
const DAILY_UNITS = { temperature_2m_max: "°C", temperature_2m_min: "°C", precipitation_sum: "mm", precipitation_probability_max: "%" };

// The failure reasons of the training data's error conversations (tasks/data/generate.py TOOL_FAILURES).
const TIMED_OUT = "Request timed out";
const SERVER_ERROR = "Internal server error";
const UNAVAILABLE = "Service temporarily unavailable";
const RATE_LIMITED = "Too many requests, rate limit exceeded";
const RESET = "Connection reset by peer";
const UPSTREAM = "Upstream data source unavailable";

// The parameters of configs/tools.json; AnythingLLM passes neither `required` nor ranges to the model, so they are checked here.
const PARAMS = {
  geocode_location: { city: { type: "string", required: true }, country: { type: "string" } },
  get_current_weather: { latitude: { type: "number", required: true, min: -90, max: 90 }, longitude: { type: "number", required: true, min: -180, max: 180 } },
  get_forecast: {
    latitude: { type: "number", required: true, min: -90, max: 90 },
    longitude: { type: "number", required: true, min: -180, max: 180 },
    days: { type: "integer", required: true, min: 1, max: MAX_FORECAST_DAYS },
  },
};

class ToolError extends Error {}

function endpoints() {
  return [process.env.OPEN_METEO_GEOCODING_URL || GEOCODING_URL, process.env.OPEN_METEO_FORECAST_URL || FORECAST_URL];
}

async function getJson(url) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Number(process.env.OPEN_METEO_TIMEOUT_MS) || TIMEOUT_MS);
  let response;
  try {
    response = await fetch(url, { signal: controller.signal, headers: { Accept: "application/json" } });
  } catch (error) {
    if (error.name === "AbortError" || error.name === "TimeoutError") throw new ToolError(TIMED_OUT);
    const code = error.cause && error.cause.code;
    throw new ToolError(code === "ECONNRESET" ? RESET : UPSTREAM);
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  try {
    body = await response.json();
  } catch (error) {
    body = null;
  }
  if (!response.ok) {
    if (response.status === 429) throw new ToolError(RATE_LIMITED);
    if ([502, 503, 504].includes(response.status)) throw new ToolError(UNAVAILABLE);
    if (response.status >= 500) throw new ToolError(SERVER_ERROR);
    // Open-Meteo answers a bad request with {"error": true, "reason": "..."}: pass its reason on.
    throw new ToolError(body && body.reason ? String(body.reason) : `HTTP ${response.status} from the weather service`);
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new ToolError(UPSTREAM);
  return body;
}

function checkArguments(name, args) {
  const spec = PARAMS[name];
  if (!spec) throw new ToolError(`unknown tool '${name}' (available: ${Object.keys(PARAMS).join(", ")})`);
  if (typeof args === "string") {
    try {
      args = args.trim() ? JSON.parse(args) : {};
    } catch (error) {
      throw new ToolError(`${name}: arguments are not JSON (${error.message})`);
    }
  }
  if (!args || typeof args !== "object" || Array.isArray(args)) throw new ToolError(`${name}: arguments must be an object`);
  // AnythingLLM may hand over optional parameters the model left out as empty values: drop them.
  const given = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const unknown = Object.keys(given).filter((k) => !(k in spec)).sort();
  const missing = Object.keys(spec).filter((k) => spec[k].required && !(k in given));
  const problems = [];
  if (unknown.length) problems.push(`unknown argument(s) ${unknown.join(", ")}`);
  if (missing.length) problems.push(`missing ${missing.join(", ")}`);
  if (problems.length) throw new ToolError(`${name}: ${problems.join("; ")}`);
  const out = {};
  for (const [key, value] of Object.entries(given)) {
    const s = spec[key];
    if (s.type === "string") {
      if (typeof value !== "string" || !value.trim()) throw new ToolError(`${name}: ${key} must be a non-empty string (got ${JSON.stringify(value)})`);
      out[key] = value;
      continue;
    }
    const number = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    if (typeof number !== "number" || !Number.isFinite(number) || (s.type === "integer" && !Number.isInteger(number))) {
      throw new ToolError(`${name}: ${key} must be ${s.type === "integer" ? "an integer" : "a number"} (got ${JSON.stringify(value)})`);
    }
    if (number < s.min || number > s.max) {
      if (key === "days") throw new ToolError(`days=${number}: the forecast covers 1 to ${MAX_FORECAST_DAYS} days`);
      throw new ToolError(`${name}: ${key}=${number} is outside ${s.min} to ${s.max}`);
    }
    out[key] = number;
  }
  return out;
}

function describe(code) {
  return WMO[String(code)] || `weather code ${code}`;
}

function isNumber(x) {
  return typeof x === "number" && Number.isFinite(x);
}

function value(key, x) {
  if (!isNumber(x)) return null;
  return INTEGER_FIELDS.has(key) ? Math.round(x) : new PyFloat(x);
}

function units(got, trained) {
  const out = {};
  for (const [k, unit] of Object.entries(trained)) out[k] = got && typeof got[k] === "string" ? got[k] : unit;
  return out;
}

// A float written the way Python's json.dumps writes it (15.0, not 15): the model read numbers that way.
class PyFloat {
  constructor(x) {
    this.x = x;
  }
}

function pyJson(v) {
  if (v instanceof PyFloat) return Number.isInteger(v.x) && Math.abs(v.x) < 1e16 ? `${v.x}.0` : JSON.stringify(v.x);
  if (Array.isArray(v)) return `[${v.map(pyJson).join(",")}]`;
  if (v && typeof v === "object") return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${pyJson(x)}`).join(",")}}`;
  return JSON.stringify(v);
}

// Names people (and so the model, copying them) give countries that Open-Meteo names otherwise.
const COUNTRY_ALIASES = {
  usa: "US", "u.s.": "US", "u.s.a.": "US", america: "US", "united states of america": "US",
  uk: "GB", "u.k.": "GB", britain: "GB", "great britain": "GB", england: "GB", scotland: "GB",
  wales: "GB", "northern ireland": "GB",
};

// US state abbreviations as people write them after a city ("Portland, OR"): Open-Meteo's admin1 is the name.
const US_STATES = {
  al: "Alabama", ak: "Alaska", az: "Arizona", ar: "Arkansas", ca: "California", co: "Colorado",
  ct: "Connecticut", de: "Delaware", fl: "Florida", ga: "Georgia", hi: "Hawaii", id: "Idaho",
  il: "Illinois", in: "Indiana", ia: "Iowa", ks: "Kansas", ky: "Kentucky", la: "Louisiana",
  me: "Maine", md: "Maryland", ma: "Massachusetts", mi: "Michigan", mn: "Minnesota", ms: "Mississippi",
  mo: "Missouri", mt: "Montana", ne: "Nebraska", nv: "Nevada", nh: "New Hampshire", nj: "New Jersey",
  nm: "New Mexico", ny: "New York", nc: "North Carolina", nd: "North Dakota", oh: "Ohio", ok: "Oklahoma",
  or: "Oregon", pa: "Pennsylvania", ri: "Rhode Island", sc: "South Carolina", sd: "South Dakota",
  tn: "Tennessee", tx: "Texas", ut: "Utah", vt: "Vermont", va: "Virginia", wa: "Washington",
  wv: "West Virginia", wi: "Wisconsin", wy: "Wyoming", dc: "District of Columbia",
};

function countryMatches(wanted, result) {
  wanted = wanted.trim().toLowerCase();
  const name = String(result.country || "").toLowerCase();
  const code = String(result.country_code || "").toLowerCase();
  return wanted === name || wanted === code || (COUNTRY_ALIASES[wanted] || "").toLowerCase() === code;
}

function regionMatches(wanted, result) {
  wanted = wanted.trim().toLowerCase();
  const region = String(result.admin1 || "").toLowerCase();
  return region !== "" && (wanted === region || (US_STATES[wanted] || "").toLowerCase() === region);
}

// As tasks/serve/tools.py's narrow(): the country's results, else the region's, else all of them.
function narrow(results, wanted) {
  const places = results.filter((r) => r && typeof r === "object");
  for (const matches of [countryMatches, regionMatches]) {
    const kept = places.filter((r) => matches(wanted, r));
    if (kept.length) return kept;
  }
  return places;
}

async function geocode_location(args) {
  let city = args.city.trim();
  let country = (args.country || "").trim();
  if (!country && city.includes(",")) {
    // "Lisbon, Portugal" in one argument
    const at = city.lastIndexOf(",");
    [city, country] = [city.slice(0, at).trim(), city.slice(at + 1).trim()];
  }
  const query = new URLSearchParams({ name: city, count: "10", language: "en", format: "json" });
  if (/^[A-Za-z]{2}$/.test(country)) query.set("countryCode", country.toUpperCase());
  let answer = await getJson(`${endpoints()[0]}?${query}`);
  let results = Array.isArray(answer.results) ? answer.results : []; // Open-Meteo omits `results` when nothing matches
  if (!results.length && query.has("countryCode")) {
    // Two letters may be a state ("Portland, OR"), which Open-Meteo's country filter knows nothing of.
    query.delete("countryCode");
    answer = await getJson(`${endpoints()[0]}?${query}`);
    results = Array.isArray(answer.results) ? answer.results : [];
  }
  if (country) results = narrow(results, country);
  // As tasks/serve/tools.py: the first place, then others of at least SIZEABLE_PLACE people, MAX_PLACES in all.
  const hits = [];
  const regions = [];
  for (const r of results) {
    if (!(r && isNumber(r.latitude) && isNumber(r.longitude))) continue;
    if (hits.length && (hits.length >= MAX_PLACES || !isNumber(r.population) || r.population < SIZEABLE_PLACE)) continue;
    // Two decimals (about 1 km), as every coordinate the model saw in training was written.
    const hit = { name: r.name || city, latitude: new PyFloat(round2(r.latitude)), longitude: new PyFloat(round2(r.longitude)) };
    if (isNumber(r.elevation)) hit.elevation = new PyFloat(r.elevation);
    if (r.country) hit.country = r.country;
    if (r.country_code) hit.country_code = r.country_code;
    hits.push(hit);
    regions.push(r.admin1);
  }
  if (hits.length > 1) hits.forEach((hit, i) => { if (regions[i]) hit.admin1 = regions[i]; }); // a shared name: its region
  return { results: hits };
}

const SIZEABLE_PLACE = 50000;
const MAX_PLACES = 4;

function round2(x) {
  // Python's round(x, 2) on the shortest decimal string: the same digits for coordinates.
  return Number(Math.round(Number(`${x}e2`)) + "e-2");
}

async function get_current_weather(args) {
  const query = new URLSearchParams({ latitude: String(args.latitude), longitude: String(args.longitude), current: CURRENT_FIELDS.join(","), timezone: "auto" });
  const answer = await getJson(`${endpoints()[1]}?${query}`);
  const now = answer.current;
  if (!now || typeof now !== "object" || ["time", ...CURRENT_FIELDS].some((k) => !(k in now))) throw new ToolError(UPSTREAM);
  const current = { time: now.time };
  for (const key of CURRENT_FIELDS) {
    current[key] = value(key, now[key]);
    if (key === "weather_code") current.weather_description = isNumber(now[key]) ? describe(Math.round(now[key])) : null;
  }
  // Coordinates as asked: the model checks its answer against the place it looked up.
  return { latitude: new PyFloat(args.latitude), longitude: new PyFloat(args.longitude), current_units: units(answer.current_units, CURRENT_UNITS), current };
}

async function get_forecast(args) {
  const days = args.days;
  const query = new URLSearchParams({
    latitude: String(args.latitude), longitude: String(args.longitude), daily: DAILY_FIELDS.join(","), timezone: "auto", forecast_days: String(days),
  });
  const answer = await getJson(`${endpoints()[1]}?${query}`);
  const daily = answer.daily;
  if (!daily || typeof daily !== "object" || ["time", ...DAILY_FIELDS].some((k) => !Array.isArray(daily[k]))) throw new ToolError(UPSTREAM);
  const n = Math.min(days, daily.time.length);
  const out = { time: daily.time.slice(0, n) };
  for (const key of DAILY_FIELDS) {
    out[key] = daily[key].slice(0, n).map((x) => value(key, x));
    if (key === "weather_code") out.weather_description = daily[key].slice(0, n).map((x) => (isNumber(x) ? describe(Math.round(x)) : null));
  }
  return { latitude: new PyFloat(args.latitude), longitude: new PyFloat(args.longitude), daily_units: units(answer.daily_units, DAILY_UNITS), daily: out };
}

const TOOLS = { geocode_location, get_current_weather, get_forecast };

// One tool call as AnythingLLM makes it: returns the result as a JSON string (skills must return strings);
// a failure is the {"error": true, "reason": ...} result the model was trained to explain, never a throw.
async function run(name, args, context) {
  let result;
  try {
    const checked = checkArguments(name, args);
    if (context && typeof context.introspect === "function") context.introspect(`Open-Meteo: ${name} ${JSON.stringify(checked)}`);
    result = await TOOLS[name](checked);
  } catch (error) {
    if (!(error instanceof ToolError)) throw error;
    result = { error: true, reason: error.message };
  }
  return pyJson(result);
}

module.exports = { run, checkArguments, describe, pyJson, PyFloat, ToolError };
