// AnythingLLM custom agent skill `geocode_location`: one of the three tools the weatherman adapter was trained on.
// AnythingLLM names the tool after this folder (plugin.json `hubId`); the work is done by ../weatherman-lib.
const weatherman = require("../weatherman-lib/open-meteo.js");

module.exports.runtime = {
  handler: async function (args) {
    return weatherman.run("geocode_location", args, this);
  },
};
