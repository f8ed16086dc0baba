// AnythingLLM custom agent skill `get_current_weather`: one of the three tools the weatherman adapter was trained on.
// AnythingLLM names the tool after this folder (plugin.json `hubId`); the work is done by ../weatherman-lib.
const weatherman = require("../weatherman-lib/open-meteo.js");

module.exports.runtime = {
  handler: async function (args) {
    return weatherman.run("get_current_weather", args, this);
  },
};
