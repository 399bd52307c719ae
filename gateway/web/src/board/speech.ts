// Reading calls out: a two-tone chime (Web Audio, no sound file to ship) and then the text in
// zh-CN through the browser's speech synthesis, one call after another, never overlapping.
// Kiosk browsers are started with autoplay allowed (README); elsewhere the first click on the
// board unlocks audio.

export interface Speaker {
  say(text: string): void
}

export function chime(ctx: AudioContext | null): Promise<void> {
  if (!ctx) return Promise.resolve()
  const t0 = ctx.currentTime
  for (const [i, freq] of [880, 660].entries()) {
    const osc = ctx.createOscillator()
    const gain = ctx.createGain()
    osc.frequency.value = freq
    gain.gain.setValueAtTime(0.0001, t0 + i * 0.35)
    gain.gain.exponentialRampToValueAtTime(0.3, t0 + i * 0.35 + 0.02)
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + i * 0.35 + 0.33)
    osc.connect(gain).connect(ctx.destination)
    osc.start(t0 + i * 0.35)
    osc.stop(t0 + i * 0.35 + 0.34)
  }
  return new Promise((r) => setTimeout(r, 750))
}

/** Queues texts and reads them one at a time: chime, then the utterance. */
export class Announcer implements Speaker {
  private queue: string[] = []
  private busy = false
  private audio: AudioContext | null = null

  unlock(): void {
    try {
      this.audio ??= new AudioContext()
      void this.audio.resume()
    } catch {
      this.audio = null
    }
  }

  say(text: string): void {
    this.queue.push(text)
    if (!this.busy) void this.next()
  }

  private async next(): Promise<void> {
    const text = this.queue.shift()
    if (text === undefined) {
      this.busy = false
      return
    }
    this.busy = true
    await chime(this.audio)
    await new Promise<void>((resolve) => {
      const synth = window.speechSynthesis
      if (!synth) return resolve()
      const u = new SpeechSynthesisUtterance(text)
      u.lang = 'zh-CN'
      u.rate = 0.9
      const done = () => resolve()
      u.onend = done
      u.onerror = done
      // A synthesiser that never reports the end must not stall the queue.
      setTimeout(done, 8000)
      synth.speak(u)
    })
    void this.next()
  }
}
