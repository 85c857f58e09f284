// A Slack app written with Bolt for JavaScript, the reference client of
// Slack's platform, run against fakeslack by TestBoltConformance
// (../conformance_test.go). Nobody on the fakeslack side wrote this client,
// so it checks that fakeslack speaks Slack's protocols, not our reading of
// them.
//
// Environment:
//   SLACK_API_URL    Web API base with its trailing slash (fakeslack's APIURL()).
//                    Bolt passes clientOptions to its Socket Mode client, so
//                    apps.connections.open goes there too.
//   SLACK_BOT_TOKEN  default xoxb-fake-bot
//   SLACK_APP_TOKEN  default xapp-fake-app
//   BOLT_LOG_LEVEL   debug, info, warn (default) or error
//
// It prints "ready" on a line of its own once connected.
'use strict';

const { App, LogLevel } = require('@slack/bolt');

const apiURL = process.env.SLACK_API_URL;
if (!apiURL) {
  console.error('SLACK_API_URL is required, e.g. http://127.0.0.1:PORT/api/');
  process.exit(2);
}

const app = new App({
  token: process.env.SLACK_BOT_TOKEN || 'xoxb-fake-bot',
  appToken: process.env.SLACK_APP_TOKEN || 'xapp-fake-app',
  socketMode: true,
  logLevel: process.env.BOLT_LOG_LEVEL || LogLevel.WARN,
  clientOptions: { slackApiUrl: apiURL },
});

app.event('app_home_opened', async ({ event, client }) => {
  await client.views.publish({
    user_id: event.user,
    view: {
      type: 'home',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Roster' } },
        { type: 'section', text: { type: 'mrkdwn', text: `Hello <@${event.user}>` } },
      ],
    },
  });
});

app.command('/roster', async ({ command, ack, client }) => {
  await ack();
  await client.chat.postMessage({
    channel: command.channel_id,
    text: `roster ${command.text}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `You typed: ${command.text}` } },
      {
        type: 'actions',
        block_id: 'conformance.actions',
        elements: [{
          type: 'button',
          action_id: 'conformance.click',
          value: 'v1',
          text: { type: 'plain_text', text: 'Click' },
        }],
      },
    ],
  });
});

app.action('conformance.click', async ({ ack }) => {
  await ack();
});

app.error(async (error) => {
  console.error('bolt error:', error);
});

(async () => {
  await app.start();
  console.log('ready');
})().catch((error) => {
  console.error('start failed:', error);
  process.exit(1);
});
