// prepareStackEnv on a lab whose stack `platform deploy` has not created yet: refused for the engine,
// accepted (config copy without a salt) for a caller that runs no engine (drift's host layer).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { keepEngineLogOffDisk, prepareStackEnv, StackEnvError } from "../../lib/pulumiEnv";

const root = path.resolve(__dirname, "../..");

describe("prepareStackEnv before the lab stack exists", () => {
  let lab: string;
  beforeEach(() => (lab = fs.mkdtempSync(path.join(os.tmpdir(), "no-stack-lab-"))));
  afterEach(() => fs.rmSync(lab, { recursive: true, force: true }));

  it("refuses a caller that runs the engine, naming the fix", () => {
    expect(() => prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false })).toThrow(StackEnvError);
    expect(() => prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false })).toThrow(/platform deploy lab creates it/);
  });

  it("gives a caller that runs no engine the lab's config copy, without a salt", () => {
    const se = prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false, engine: false });
    try {
      const text = fs.readFileSync(se.configFile, "utf8");
      expect(text).toContain("platform:hostAddress");
      expect(text).not.toContain("encryptionsalt");
      expect(se.envVars.PULUMI_BACKEND_URL).toBe(`file://${path.join(lab, "pulumi-state")}`);
      // Never a download; Pulumi's Kubernetes objects win field conflicts (ADR 0015).
      expect(se.envVars).toMatchObject({ PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true", PULUMI_K8S_ENABLE_PATCH_FORCE: "true" });
    } finally {
      se.cleanup();
    }
  });
});

describe("the Pulumi CLI's own debug log, off the lab's disk", () => {
  let home: string;
  beforeEach(() => (home = fs.mkdtempSync(path.join(os.tmpdir(), "pulumi-home-"))));
  afterEach(() => fs.rmSync(home, { recursive: true, force: true }));

  it("puts a file where the CLI would make its logs directory, replacing one it made", () => {
    fs.mkdirSync(path.join(home, "logs"));
    fs.writeFileSync(path.join(home, "logs", "pulumi-20261207T034935-2892-preview.log"), "gzip");
    keepEngineLogOffDisk(home);
    expect(fs.statSync(path.join(home, "logs")).isFile()).toBe(true);
    // The CLI's own mkdir -p of it then fails, which is what turns its disk log off.
    expect(() => fs.mkdirSync(path.join(home, "logs"), { recursive: true })).toThrow(/EEXIST|ENOTDIR/);
    keepEngineLogOffDisk(home);
    expect(fs.readFileSync(path.join(home, "logs"), "utf8")).toMatch(/on purpose/);
  });

  it("is set up for every lab command, and makes no home for a lab that has none yet", () => {
    const lab = fs.mkdtempSync(path.join(os.tmpdir(), "log-lab-"));
    try {
      prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false, engine: false }).cleanup();
      expect(fs.existsSync(path.join(lab, "pulumi-home"))).toBe(false);
      fs.mkdirSync(path.join(lab, "pulumi-home", "logs"), { recursive: true });
      prepareStackEnv("lab", root, { ...process.env, PLATFORM_LAB_DIR: lab }, { tools: false, engine: false }).cleanup();
      expect(fs.statSync(path.join(lab, "pulumi-home", "logs")).isFile()).toBe(true);
    } finally {
      fs.rmSync(lab, { recursive: true, force: true });
    }
  });
});
