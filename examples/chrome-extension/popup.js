const who = document.getElementById("who");

async function ask(type) {
  return chrome.runtime.sendMessage({ type });
}

document.getElementById("me").addEventListener("click", async () => {
  const answer = await ask("me");
  who.textContent =
    answer.status === 200 ? `Signed in as ${answer.body.email}` : `Not signed in (${answer.status})`;
});

document.getElementById("sign-out").addEventListener("click", async () => {
  await ask("signOut");
  who.textContent = "Not signed in.";
});
