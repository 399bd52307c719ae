import { createApp } from 'vue'
import Board from './Board.vue'
import './board.css'

createApp(Board).mount('#app')
